import CNGTCP2
import Foundation
import HyperMeshCore

extension QUICConnection {
    /// Checks the peer's chain (trust anchor, validity period, CRL, key purpose) during the handshake and
    /// records its node id; logs why when it refuses.
    func verifyPeerCertificate() -> Bool {
        switch self.peerVerification {
        case .deferredToCaller:
            self.peerCertificateChain = self.peerCertificatesDER()
            self.peerNodeID = self.nodeID(in: self.peerURIs())
            return true
        case .optional(let alpn) where self.peerCertificatesDER().isEmpty:
            return self.negotiatedALPN == alpn ? true : self.refuse("none presented, and \(self.negotiatedALPN ?? "this protocol") requires one")
        case .optional, .required:
            break
        }
        var status: UInt32 = 0
        let result = cngtcp2_verify_peer(self.session, self.role == .client ? 1 : 0, &status)
        if result < 0 {
            return self.refuse(String(cString: gnutls_strerror(result)))
        }
        if status != 0 {
            var text = gnutls_datum_t()
            var reason = "status 0x\(String(status, radix: 16))"
            if gnutls_certificate_verification_status_print(status, GNUTLS_CRT_X509, &text, 0) == 0, let data = text.data {
                reason = String(cString: UnsafeRawPointer(data).assumingMemoryBound(to: CChar.self))
                cngtcp2_gnutls_free(data)
            }
            return self.refuse(reason)
        }
        self.peerNodeID = self.nodeID(in: self.peerURIs())
        self.peerCertificateSerial = self.peerSerial()
        self.peerCertificateVerified = true
        self.logger.debug("Peer certificate verified", metadata: [
            "peer": "\(self.remoteAddress)", "peer.node": "\(self.peerNodeID ?? "-")",
        ])
        return true
    }

    private func refuse(_ reason: String) -> Bool {
        let side = self.role == .server ? "client" : "server"
        self.peerRefusal = "\(side) certificate refused: \(reason)"
        self.logger.warning("Refused peer certificate", metadata: [
            "peer": "\(self.remoteAddress)", "reason": "\(reason)",
        ])
        return false
    }

    private func nodeID(in uris: [String]) -> String? {
        uris.lazy.compactMap { uri -> String? in uri.hasPrefix("hm://") ? String(uri.dropFirst(5)) : nil }.first
    }

    /// The serial number of the peer's leaf certificate, lowercase hex.
    private func peerSerial() -> String? {
        var count: UInt32 = 0
        guard let list = gnutls_certificate_get_peers(self.session, &count), count > 0 else { return nil }
        var certificate: OpaquePointer?
        guard gnutls_x509_crt_init(&certificate) == 0 else { return nil }
        defer { gnutls_x509_crt_deinit(certificate) }
        var leaf = list.pointee
        guard gnutls_x509_crt_import(certificate, &leaf, GNUTLS_X509_FMT_DER) == 0 else { return nil }
        var serial = [UInt8](repeating: 0, count: 64)
        var size = serial.count
        guard gnutls_x509_crt_get_serial(certificate, &serial, &size) == 0 else { return nil }
        return serial.prefix(size).hexString
    }

    /// The certificates the peer presented, DER, leaf first.
    func peerCertificatesDER() -> [[UInt8]] {
        var count: UInt32 = 0
        guard let list = gnutls_certificate_get_peers(self.session, &count), count > 0 else { return [] }
        return (0..<Int(count)).map { index in
            let datum = list[index]
            guard let data = datum.data else { return [] }
            return Array(UnsafeBufferPointer(start: data, count: Int(datum.size)))
        }
    }

    /// The URI subject alternative names of the peer's leaf certificate.
    func peerURIs() -> [String] {
        var count: UInt32 = 0
        guard let list = gnutls_certificate_get_peers(self.session, &count), count > 0 else { return [] }
        var certificate: OpaquePointer?
        guard gnutls_x509_crt_init(&certificate) == 0 else { return [] }
        defer { gnutls_x509_crt_deinit(certificate) }
        var leaf = list.pointee
        guard gnutls_x509_crt_import(certificate, &leaf, GNUTLS_X509_FMT_DER) == 0 else { return [] }
        var uris: [String] = []
        var buffer = [CChar](repeating: 0, count: 1024)
        for index in 0..<32 as Range<UInt32> {
            var size = buffer.count
            var critical: UInt32 = 0
            let type = gnutls_x509_crt_get_subject_alt_name(certificate, index, &buffer, &size, &critical)
            if type < 0 { break }
            if type == Int32(GNUTLS_SAN_URI.rawValue) {
                uris.append(String(decoding: buffer.prefix(size).map { UInt8(bitPattern: $0) }, as: UTF8.self))
            }
        }
        return uris
    }
}
