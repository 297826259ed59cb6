import Foundation
import HyperMeshCore

/// An IPv4 or IPv6 address and UDP port, stored as the `sockaddr` the kernel and ngtcp2 take.
public struct SocketAddress: Sendable, Hashable, CustomStringConvertible {
    /// The raw `sockaddr_in` or `sockaddr_in6`, zero-padded to `sockaddr_storage`.
    var storage: sockaddr_storage
    /// How many bytes of ``storage`` are meaningful.
    var length: socklen_t

    init(storage: sockaddr_storage, length: socklen_t) {
        self.storage = storage
        self.length = length
    }

    /// An address from its numeric text (`127.0.0.1`, `::1`) and a port.
    ///
    /// - Throws: ``STOQError`` with code `invalidAddress` when `host` is not a numeric IP address.
    public init(host: String, port: UInt16) throws {
        guard let bytes = IPAddress.bytes(host) else {
            throw STOQError.invalidAddress("\"\(host)\" is not an IPv4 or IPv6 address")
        }
        var storage = sockaddr_storage()
        if bytes.count == 4 {
            withUnsafeMutableBytes(of: &storage) { raw in
                let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in.self)
                address.pointee.sin_family = sa_family_t(AF_INET)
                address.pointee.sin_port = port.bigEndian
                withUnsafeMutableBytes(of: &address.pointee.sin_addr) { $0.copyBytes(from: bytes) }
            }
            self.init(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in>.size))
        } else {
            withUnsafeMutableBytes(of: &storage) { raw in
                let address = raw.baseAddress!.assumingMemoryBound(to: sockaddr_in6.self)
                address.pointee.sin6_family = sa_family_t(AF_INET6)
                address.pointee.sin6_port = port.bigEndian
                withUnsafeMutableBytes(of: &address.pointee.sin6_addr) { $0.copyBytes(from: bytes) }
            }
            self.init(storage: storage, length: socklen_t(MemoryLayout<sockaddr_in6>.size))
        }
    }

    /// Parses `HOST:PORT`, `[V6]:PORT`, or a bare host with `defaultPort`.
    ///
    /// - Throws: ``STOQError`` with code `invalidAddress`, naming what is wrong.
    public init(parsing text: String, defaultPort: UInt16 = STOQDefaults.port) throws {
        var host = text
        var port = defaultPort
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else { throw STOQError.invalidAddress("\"\(text)\": missing ]") }
            host = String(text[text.index(after: text.startIndex)..<close])
            let rest = text[text.index(after: close)...]
            if !rest.isEmpty {
                guard rest.hasPrefix(":"), let value = UInt16(rest.dropFirst()) else {
                    throw STOQError.invalidAddress("\"\(text)\": expected [ADDRESS]:PORT")
                }
                port = value
            }
        } else if text.filter({ $0 == ":" }).count == 1, let colon = text.lastIndex(of: ":") {
            host = String(text[..<colon])
            guard let value = UInt16(text[text.index(after: colon)...]) else {
                throw STOQError.invalidAddress("\"\(text)\": port must be a number from 0 to 65535")
            }
            port = value
        }
        if host == "localhost" { host = "127.0.0.1" }
        try self.init(host: host, port: port)
    }

    /// Calls `body` with the address as the `sockaddr` pointer and length C calls take.
    func withSockaddr<Result>(_ body: (UnsafePointer<sockaddr>, socklen_t) throws -> Result) rethrows -> Result {
        try withUnsafeBytes(of: self.storage) { raw in
            try body(raw.baseAddress!.assumingMemoryBound(to: sockaddr.self), self.length)
        }
    }

    /// `AF_INET` or `AF_INET6`.
    public var family: Int32 { Int32(self.storage.ss_family) }

    /// The port in host byte order.
    public var port: UInt16 {
        withUnsafeBytes(of: self.storage) { raw in
            self.family == AF_INET
                ? UInt16(bigEndian: raw.load(as: sockaddr_in.self).sin_port)
                : UInt16(bigEndian: raw.load(as: sockaddr_in6.self).sin6_port)
        }
    }

    /// The address without the port, as bytes in network order (4 or 16 of them).
    public var hostBytes: [UInt8] {
        withUnsafeBytes(of: self.storage) { raw in
            if self.family == AF_INET {
                var address = raw.load(as: sockaddr_in.self).sin_addr
                return withUnsafeBytes(of: &address) { Array($0) }
            }
            var address = raw.load(as: sockaddr_in6.self).sin6_addr
            return withUnsafeBytes(of: &address) { Array($0) }
        }
    }

    /// The numeric host text (`127.0.0.1`, `::1`).
    public var host: String {
        var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN) + 1)
        let bytes = self.hostBytes
        _ = bytes.withUnsafeBytes { inet_ntop(self.family, $0.baseAddress, &buffer, socklen_t(buffer.count)) }
        let length = buffer.firstIndex(of: 0) ?? buffer.count
        return String(decoding: buffer[..<length].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    /// `127.0.0.1:9292` or `[::1]:9292`.
    public var description: String {
        self.family == AF_INET6 ? "[\(self.host)]:\(self.port)" : "\(self.host):\(self.port)"
    }

    public static func == (lhs: SocketAddress, rhs: SocketAddress) -> Bool {
        lhs.family == rhs.family && lhs.port == rhs.port && lhs.hostBytes == rhs.hostBytes
    }

    public func hash(into hasher: inout Hasher) {
        hasher.combine(self.family)
        hasher.combine(self.port)
        hasher.combine(self.hostBytes)
    }
}
