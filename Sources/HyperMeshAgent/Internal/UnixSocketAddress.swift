import CSystemd
import Foundation

/// An `AF_UNIX` socket address for a filesystem path, as `bind`, `connect` and `sendto` take it.
struct UnixSocketAddress {
    private var address = sockaddr_un()

    /// `nil` when `path` does not fit `sun_path` (107 bytes and a NUL).
    init?(path: String) {
        self.address.sun_family = sa_family_t(AF_UNIX)
        guard path.utf8.count < MemoryLayout.size(ofValue: self.address.sun_path) else { return nil }
        withUnsafeMutableBytes(of: &self.address.sun_path) { $0.copyBytes(from: path.utf8) }
    }

    /// Calls `body` with the address as the `sockaddr` pointer and length C calls take.
    func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Result) rethrows -> Result {
        try withUnsafeBytes(of: self.address) { raw in
            try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), socklen_t(MemoryLayout<sockaddr_un>.size))
        }
    }
}
