/*
 * ngtcp2 1.11 + ngtcp2_crypto_gnutls + GnuTLS, as Swift sees them.
 *
 * ngtcp2's versioned API is a set of function-like macros that Swift cannot import;
 * each is wrapped here in a static inline function of the same shape, prefixed
 * `cngtcp2_`. The socket helpers exist because the CMSG_* macros that build and read
 * control messages (UDP_SEGMENT, UDP_GRO, IP_TOS) are not importable either.
 */
#ifndef CNGTCP2_SHIM_H
#define CNGTCP2_SHIM_H

#include <errno.h>
#include <string.h>
#include <time.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/ip.h>
#include <netinet/udp.h>
#include <arpa/inet.h>
#include <sys/eventfd.h>
#include <poll.h>

#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gnutls/crypto.h>

#ifndef UDP_SEGMENT
#define UDP_SEGMENT 103
#endif
#ifndef UDP_GRO
#define UDP_GRO 104
#endif

/* ---- The 15 versioned macros of ngtcp2 1.11 ---------------------------------- */

static inline int cngtcp2_conn_client_new(ngtcp2_conn **pconn, const ngtcp2_cid *dcid, const ngtcp2_cid *scid,
                                          const ngtcp2_path *path, uint32_t version,
                                          const ngtcp2_callbacks *callbacks, const ngtcp2_settings *settings,
                                          const ngtcp2_transport_params *params, void *user_data) {
    return ngtcp2_conn_client_new(pconn, dcid, scid, path, version, callbacks, settings, params, NULL, user_data);
}

static inline int cngtcp2_conn_server_new(ngtcp2_conn **pconn, const ngtcp2_cid *dcid, const ngtcp2_cid *scid,
                                          const ngtcp2_path *path, uint32_t version,
                                          const ngtcp2_callbacks *callbacks, const ngtcp2_settings *settings,
                                          const ngtcp2_transport_params *params, void *user_data) {
    return ngtcp2_conn_server_new(pconn, dcid, scid, path, version, callbacks, settings, params, NULL, user_data);
}

static inline int cngtcp2_conn_read_pkt(ngtcp2_conn *conn, const ngtcp2_path *path, const ngtcp2_pkt_info *pi,
                                        const uint8_t *pkt, size_t pktlen, ngtcp2_tstamp ts) {
    return ngtcp2_conn_read_pkt(conn, path, pi, pkt, pktlen, ts);
}

static inline ngtcp2_ssize cngtcp2_conn_write_pkt(ngtcp2_conn *conn, ngtcp2_path *path, ngtcp2_pkt_info *pi,
                                                  uint8_t *dest, size_t destlen, ngtcp2_tstamp ts) {
    return ngtcp2_conn_write_pkt(conn, path, pi, dest, destlen, ts);
}

static inline ngtcp2_ssize cngtcp2_conn_write_stream(ngtcp2_conn *conn, ngtcp2_path *path, ngtcp2_pkt_info *pi,
                                                     uint8_t *dest, size_t destlen, ngtcp2_ssize *pdatalen,
                                                     uint32_t flags, int64_t stream_id, const uint8_t *data,
                                                     size_t datalen, ngtcp2_tstamp ts) {
    return ngtcp2_conn_write_stream(conn, path, pi, dest, destlen, pdatalen, flags, stream_id, data, datalen, ts);
}

static inline ngtcp2_ssize cngtcp2_conn_writev_stream(ngtcp2_conn *conn, ngtcp2_path *path, ngtcp2_pkt_info *pi,
                                                      uint8_t *dest, size_t destlen, ngtcp2_ssize *pdatalen,
                                                      uint32_t flags, int64_t stream_id, const ngtcp2_vec *datav,
                                                      size_t datavcnt, ngtcp2_tstamp ts) {
    return ngtcp2_conn_writev_stream(conn, path, pi, dest, destlen, pdatalen, flags, stream_id, datav, datavcnt, ts);
}

static inline ngtcp2_ssize cngtcp2_conn_write_datagram(ngtcp2_conn *conn, ngtcp2_path *path, ngtcp2_pkt_info *pi,
                                                       uint8_t *dest, size_t destlen, int *paccepted, uint32_t flags,
                                                       uint64_t dgram_id, const uint8_t *data, size_t datalen,
                                                       ngtcp2_tstamp ts) {
    return ngtcp2_conn_write_datagram(conn, path, pi, dest, destlen, paccepted, flags, dgram_id, data, datalen, ts);
}

static inline ngtcp2_ssize cngtcp2_conn_writev_datagram(ngtcp2_conn *conn, ngtcp2_path *path, ngtcp2_pkt_info *pi,
                                                        uint8_t *dest, size_t destlen, int *paccepted, uint32_t flags,
                                                        uint64_t dgram_id, const ngtcp2_vec *datav, size_t datavcnt,
                                                        ngtcp2_tstamp ts) {
    return ngtcp2_conn_writev_datagram(conn, path, pi, dest, destlen, paccepted, flags, dgram_id, datav, datavcnt, ts);
}

static inline ngtcp2_ssize cngtcp2_conn_write_connection_close(ngtcp2_conn *conn, ngtcp2_path *path,
                                                               ngtcp2_pkt_info *pi, uint8_t *dest, size_t destlen,
                                                               const ngtcp2_ccerr *ccerr, ngtcp2_tstamp ts) {
    return ngtcp2_conn_write_connection_close(conn, path, pi, dest, destlen, ccerr, ts);
}

static inline int cngtcp2_conn_set_local_transport_params(ngtcp2_conn *conn, const ngtcp2_transport_params *params) {
    return ngtcp2_conn_set_local_transport_params(conn, params);
}

static inline void cngtcp2_conn_get_conn_info(ngtcp2_conn *conn, ngtcp2_conn_info *cinfo) {
    ngtcp2_conn_get_conn_info(conn, cinfo);
}

static inline void cngtcp2_settings_default(ngtcp2_settings *settings) { ngtcp2_settings_default(settings); }

static inline void cngtcp2_transport_params_default(ngtcp2_transport_params *params) {
    ngtcp2_transport_params_default(params);
}

static inline ngtcp2_ssize cngtcp2_transport_params_encode(uint8_t *dest, size_t destlen,
                                                           const ngtcp2_transport_params *params) {
    return ngtcp2_transport_params_encode(dest, destlen, params);
}

static inline int cngtcp2_transport_params_decode(ngtcp2_transport_params *params, const uint8_t *data,
                                                  size_t datalen) {
    return ngtcp2_transport_params_decode(params, data, datalen);
}

/* ---- Clock ------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds, ngtcp2's ngtcp2_tstamp. */
static inline uint64_t cngtcp2_timestamp(void) {
    struct timespec tp;
    clock_gettime(CLOCK_MONOTONIC, &tp);
    return (uint64_t)tp.tv_sec * NGTCP2_SECONDS + (uint64_t)tp.tv_nsec;
}

/* Wall clock in nanoseconds since 1970, as Retry tokens want. */
static inline uint64_t cngtcp2_system_nanoseconds(void) {
    struct timespec tp;
    clock_gettime(CLOCK_REALTIME, &tp);
    return (uint64_t)tp.tv_sec * NGTCP2_SECONDS + (uint64_t)tp.tv_nsec;
}

/* ---- UDP with GSO/GRO and ECN -------------------------------------------------- */

/*
 * Sends `len` bytes as datagrams of `segment_size` bytes (the last may be shorter) with one
 * sendmsg: UDP_SEGMENT when `segment_size` < `len`, and the ECN codepoint in IP_TOS or
 * IPV6_TCLASS. Returns the bytes sent or -errno.
 */
static inline ssize_t cngtcp2_send(int fd, const uint8_t *data, size_t len, const struct sockaddr *addr,
                                   socklen_t addrlen, size_t segment_size, unsigned int ecn) {
    struct iovec iov = {.iov_base = (void *)data, .iov_len = len};
    union {
        char buf[CMSG_SPACE(sizeof(uint16_t)) + CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } control;
    memset(&control, 0, sizeof(control));
    struct msghdr msg = {0};
    msg.msg_name = (void *)addr;
    msg.msg_namelen = addrlen;
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    size_t controllen = 0;
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    int tos = (int)ecn;
    cm->cmsg_level = addr->sa_family == AF_INET6 ? IPPROTO_IPV6 : IPPROTO_IP;
    cm->cmsg_type = addr->sa_family == AF_INET6 ? IPV6_TCLASS : IP_TOS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &tos, sizeof(int));
    controllen += CMSG_SPACE(sizeof(int));
    if (segment_size > 0 && segment_size < len) {
        cm = CMSG_NXTHDR(&msg, cm);
        uint16_t segment = (uint16_t)segment_size;
        cm->cmsg_level = SOL_UDP;
        cm->cmsg_type = UDP_SEGMENT;
        cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
        memcpy(CMSG_DATA(cm), &segment, sizeof(uint16_t));
        controllen += CMSG_SPACE(sizeof(uint16_t));
    }
    msg.msg_controllen = controllen;
    ssize_t n;
    do {
        n = sendmsg(fd, &msg, 0);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? -errno : n;
}

/*
 * Receives one datagram, or several coalesced by GRO, into `buf`. `*segment_size` is the
 * GRO segment size (0 when not coalesced), `*ecn` the ECN bits of the TOS/TCLASS byte.
 * Returns the bytes received or -errno (-EAGAIN when nothing is waiting).
 */
static inline ssize_t cngtcp2_receive(int fd, uint8_t *buf, size_t buflen, struct sockaddr_storage *addr,
                                      socklen_t *addrlen, size_t *segment_size, unsigned int *ecn) {
    struct iovec iov = {.iov_base = buf, .iov_len = buflen};
    union {
        char buf[CMSG_SPACE(sizeof(int)) * 4];
        struct cmsghdr align;
    } control;
    struct msghdr msg = {0};
    msg.msg_name = addr;
    msg.msg_namelen = sizeof(*addr);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof(control.buf);
    ssize_t n;
    do {
        n = recvmsg(fd, &msg, MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) return -errno;
    *addrlen = msg.msg_namelen;
    *segment_size = 0;
    *ecn = 0;
    for (struct cmsghdr *cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
        if (cm->cmsg_level == SOL_UDP && cm->cmsg_type == UDP_GRO) {
            int size = 0;
            memcpy(&size, CMSG_DATA(cm), sizeof(int));
            *segment_size = (size_t)size;
        } else if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TOS) ||
                   (cm->cmsg_level == IPPROTO_IPV6 && cm->cmsg_type == IPV6_TCLASS)) {
            unsigned char tos = 0;
            if (cm->cmsg_len >= CMSG_LEN(sizeof(int)) && cm->cmsg_level == IPPROTO_IPV6) {
                int value = 0;
                memcpy(&value, CMSG_DATA(cm), sizeof(int));
                tos = (unsigned char)value;
            } else {
                memcpy(&tos, CMSG_DATA(cm), 1);
            }
            *ecn = tos & 0x3;
        }
    }
    return n;
}

/* ---- Peer certificate verification --------------------------------------------- */

/*
 * Verifies the peer's chain against the credentials' trust list and CRLs, and that the leaf
 * may be used for the peer's role (TLS client or server authentication). Returns 0 and
 * `*status` == 0 when it verifies; otherwise `*status` holds gnutls_certificate_status_t bits
 * (or the call's own error is returned).
 */
static inline int cngtcp2_verify_peer(gnutls_session_t session, int peer_is_server, unsigned int *status) {
    gnutls_typed_vdata_st data[1];
    data[0].type = GNUTLS_DT_KEY_PURPOSE_OID;
    data[0].data = (unsigned char *)(peer_is_server ? GNUTLS_KP_TLS_WWW_SERVER : GNUTLS_KP_TLS_WWW_CLIENT);
    data[0].size = 0;
    return gnutls_certificate_verify_peers(session, data, 1, status);
}

/* gnutls_free is a global function pointer, which Swift 6 will not touch. */
static inline void cngtcp2_gnutls_free(void *pointer) { gnutls_free(pointer); }

#endif /* CNGTCP2_SHIM_H */
