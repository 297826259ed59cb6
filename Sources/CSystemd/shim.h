/* libsystemd's service-manager protocol: sd_notify (READY, STATUS, WATCHDOG, RELOADING, STOPPING)
   and sd_watchdog_enabled. The socket comes from $NOTIFY_SOCKET; without it the calls do nothing. */
#ifndef CSYSTEMD_SHIM_H
#define CSYSTEMD_SHIM_H
#include <systemd/sd-daemon.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/stat.h>
#include <poll.h>
#include <malloc.h>

/* SO_PEERCRED's credentials of a connected unix socket's peer; 0 on success. */
static inline int csystemd_peer_credentials(int fd, pid_t *pid, uid_t *uid, gid_t *gid) {
    /* struct ucred's layout; glibc only declares it under _GNU_SOURCE, which would clash with other modules. */
    struct { pid_t pid; uid_t uid; gid_t gid; } credentials;
    socklen_t length = sizeof(credentials);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &credentials, &length) != 0) return -1;
    *pid = credentials.pid;
    *uid = credentials.uid;
    *gid = credentials.gid;
    return 0;
}
#endif
