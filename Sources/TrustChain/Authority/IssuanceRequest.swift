import Foundation
import HyperMeshCore

/// What a certificate should say: names, usage, lifetime and key type.
public struct IssuanceRequest: Sendable, Hashable {
    /// Extended key usage.
    public enum Usage: String, Sendable, CaseIterable {
        case server, client, both
    }

    public var commonName: String
    public var dnsNames: [String]
    public var ipAddresses: [String]
    public var uris: [String]
    public var usage: Usage
    public var duration: TimeSpan
    public var keyAlgorithm: KeyAlgorithm
    /// The CertificatePolicy this certificate is issued for, so its predecessor can be superseded.
    public var policy: String?

    /// The shortest lifetime TrustChain issues.
    public static let minimumDuration = TimeSpan.minutes(1)

    public init(commonName: String, dnsNames: [String] = [], ipAddresses: [String] = [], uris: [String] = [],
                usage: Usage = .both, duration: TimeSpan = .hours(24), keyAlgorithm: KeyAlgorithm = .p256, policy: String? = nil)
    {
        self.commonName = commonName
        self.dnsNames = dnsNames
        self.ipAddresses = ipAddresses
        self.uris = uris
        self.usage = usage
        self.duration = duration
        self.keyAlgorithm = keyAlgorithm
        self.policy = policy
    }

    /// Every problem with the request, each naming the field; empty when it can be issued.
    public func problems() -> [String] {
        var problems: [String] = []
        if self.commonName.isEmpty || self.commonName.unicodeScalars.count > 64 {
            problems.append("common name must be 1 to 64 characters")
        }
        for name in self.dnsNames where !Self.isDNSName(name) {
            problems.append("DNS name \"\(name)\" is not a valid host name")
        }
        for address in self.ipAddresses where IPAddress.bytes(address) == nil {
            problems.append("IP address \"\(address)\" is not an IPv4 or IPv6 address")
        }
        for uri in self.uris where !Self.isURI(uri) {
            problems.append("URI \"\(uri)\" needs a scheme, e.g. hm://NODE-ID")
        }
        if self.duration < Self.minimumDuration {
            problems.append("duration \(self.duration) is shorter than \(Self.minimumDuration)")
        }
        return problems
    }

    static func isDNSName(_ name: String) -> Bool {
        guard !name.isEmpty, name.utf8.count <= 253 else { return false }
        var labels = name.split(separator: ".", omittingEmptySubsequences: false)
        if labels.first == "*" { labels.removeFirst() }
        return !labels.isEmpty && labels.allSatisfy { label in
            let bytes = Array(label.utf8)
            guard !bytes.isEmpty, bytes.count <= 63, bytes.first != UInt8(ascii: "-"), bytes.last != UInt8(ascii: "-") else {
                return false
            }
            return bytes.allSatisfy { $0 == UInt8(ascii: "-") || ($0 >= 0x30 && $0 <= 0x39) || ($0 | 0x20 >= 0x61 && $0 | 0x20 <= 0x7A) }
        }
    }

    static func isURI(_ text: String) -> Bool {
        guard let colon = text.firstIndex(of: ":"), colon != text.startIndex, text.index(after: colon) != text.endIndex,
              !text.contains(" ") else { return false }
        let scheme = text[..<colon]
        return scheme.first!.isLetter && scheme.allSatisfy { $0.isLetter || $0.isNumber || "+.-".contains($0) }
    }
}
