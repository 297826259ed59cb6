import Foundation

/// Just enough DER (X.690) to build a CRL: definite lengths, primitive and constructed TLVs.
enum DERWriter {
    static func tlv(_ tag: UInt8, _ content: [UInt8]) -> [UInt8] {
        [tag] + self.length(content.count) + content
    }

    static func length(_ count: Int) -> [UInt8] {
        if count < 0x80 { return [UInt8(count)] }
        var bytes: [UInt8] = []
        var rest = count
        while rest > 0 {
            bytes.insert(UInt8(rest & 0xFF), at: 0)
            rest >>= 8
        }
        return [0x80 | UInt8(bytes.count)] + bytes
    }

    static func sequence(_ parts: [[UInt8]]) -> [UInt8] { self.tlv(0x30, parts.flatMap { $0 }) }

    /// An INTEGER from big-endian magnitude bytes, made minimal and positive.
    static func integer(unsigned bytes: [UInt8]) -> [UInt8] {
        var content = Array(bytes.drop { $0 == 0 })
        if content.isEmpty { content = [0] }
        if content[0] & 0x80 != 0 { content.insert(0, at: 0) }
        return self.tlv(0x02, content)
    }

    static func integer(_ value: UInt64) -> [UInt8] {
        self.integer(unsigned: (0..<8).reversed().map { UInt8((value >> (8 * UInt64($0))) & 0xFF) })
    }

    static func enumerated(_ value: UInt8) -> [UInt8] { self.tlv(0x0A, [value]) }
    static func octetString(_ bytes: [UInt8]) -> [UInt8] { self.tlv(0x04, bytes) }
    static func bitString(_ bytes: [UInt8]) -> [UInt8] { self.tlv(0x03, [0] + bytes) }
    static func contextExplicit(_ number: UInt8, _ content: [UInt8]) -> [UInt8] { self.tlv(0xA0 | number, content) }
    static func contextPrimitive(_ number: UInt8, _ content: [UInt8]) -> [UInt8] { self.tlv(0x80 | number, content) }

    static func objectIdentifier(_ components: [UInt64]) -> [UInt8] {
        precondition(components.count >= 2)
        var content = self.base128(components[0] * 40 + components[1])
        for component in components.dropFirst(2) { content += self.base128(component) }
        return self.tlv(0x06, content)
    }

    private static func base128(_ value: UInt64) -> [UInt8] {
        var bytes = [UInt8(value & 0x7F)]
        var rest = value >> 7
        while rest > 0 {
            bytes.insert(UInt8(rest & 0x7F) | 0x80, at: 0)
            rest >>= 7
        }
        return bytes
    }

    /// UTCTime through 2049, GeneralizedTime after, as RFC 5280 §4.1.2.5 requires.
    static func time(_ date: Date) -> [UInt8] {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let parts = calendar.dateComponents([.year, .month, .day, .hour, .minute, .second], from: date)
        let year = parts.year!
        let rest = String(format: "%02d%02d%02d%02d%02dZ", parts.month!, parts.day!, parts.hour!, parts.minute!, parts.second!)
        if year < 2050 { return self.tlv(0x17, Array((String(format: "%02d", year % 100) + rest).utf8)) }
        return self.tlv(0x18, Array((String(format: "%04d", year) + rest).utf8))
    }

    /// PEM with 64-column base64 lines.
    static func pem(_ der: [UInt8], label: String) -> String {
        let base64 = Data(der).base64EncodedString()
        var lines: [Substring] = []
        var index = base64.startIndex
        while index < base64.endIndex {
            let end = base64.index(index, offsetBy: 64, limitedBy: base64.endIndex) ?? base64.endIndex
            lines.append(base64[index..<end])
            index = end
        }
        return "-----BEGIN \(label)-----\n" + lines.joined(separator: "\n") + "\n-----END \(label)-----\n"
    }
}
