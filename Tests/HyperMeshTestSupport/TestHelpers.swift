import Foundation

/// A loopback port the kernel says is free now (for servers whose address must be known before they
/// start, e.g. listed in a spec): `SOCK_STREAM` for TCP, `SOCK_DGRAM` for UDP (QUIC).
public func freeLoopbackPort(_ type: Int32 = Int32(SOCK_STREAM.rawValue)) throws -> Int {
    let descriptor = socket(AF_INET, type, 0)
    defer { close(descriptor) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) { pointer in
        pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { socketAddress in
            bind(descriptor, socketAddress, length) == 0 && getsockname(descriptor, socketAddress, &length) == 0
        }
    }
    guard bound else { throw CocoaError(.fileWriteUnknown, userInfo: ["reason": "no free loopback port: errno \(errno)"]) }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A small deterministic generator (SplitMix64), so a failing test can be replayed from its seed.
public struct SplitMix64 {
    public var state: UInt64

    public init(seed: UInt64) {
        self.state = seed
    }

    public mutating func next() -> UInt64 {
        self.state &+= 0x9E37_79B9_7F4A_7C15
        var z = self.state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

extension Date {
    /// A scan time just past the mirror encoder's quiet period for files written now (1 s), and still inside
    /// the window in which their stamps are not trusted (2 s).
    public static var afterQuietPeriod: Date { Date(timeIntervalSinceNow: 1.5) }
}

/// Whether `condition` holds within `timeout` seconds, asked again every `interval` (a throw counts as "not yet"):
/// how tests wait for what other processes or threads do, without a bound on how fast they do it.
public func eventually(timeout: TimeInterval, every interval: TimeInterval = 0.1, _ condition: () throws -> Bool) -> Bool {
    let deadline = Date().addingTimeInterval(timeout)
    while Date() < deadline {
        if (try? condition()) == true { return true }
        usleep(useconds_t(interval * 1_000_000))
    }
    return false
}
