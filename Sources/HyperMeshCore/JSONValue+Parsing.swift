extension JSONValue {
    /// The deepest nesting accepted, so hostile input cannot exhaust the stack.
    public static let maximumDepth = 128

    /// Parses JSON text (RFC 8259) without floating-point numbers.
    ///
    /// - Throws: ``HyperMeshError`` with code `corruptData`, naming the byte offset.
    public init(parsingJSON text: String) throws {
        var parser = JSONParser(bytes: Array(text.utf8))
        self = try parser.parseDocument()
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var offset = 0

    init(bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseDocument() throws -> JSONValue {
        let value = try self.parseValue(depth: 0)
        self.skipWhitespace()
        guard self.offset == self.bytes.count else { throw self.failure("trailing characters") }
        return value
    }

    func failure(_ what: String) -> HyperMeshError {
        .corruptData("invalid JSON at byte \(self.offset): \(what)")
    }

    mutating func skipWhitespace() {
        while self.offset < self.bytes.count, [0x20, 0x0A, 0x0D, 0x09].contains(self.bytes[self.offset]) {
            self.offset += 1
        }
    }

    mutating func expect(_ literal: String) throws {
        for byte in literal.utf8 {
            guard self.offset < self.bytes.count, self.bytes[self.offset] == byte else {
                throw self.failure("expected \(literal)")
            }
            self.offset += 1
        }
    }

    mutating func parseValue(depth: Int) throws -> JSONValue {
        guard depth < JSONValue.maximumDepth else { throw self.failure("nested too deeply") }
        self.skipWhitespace()
        guard self.offset < self.bytes.count else { throw self.failure("unexpected end") }
        switch self.bytes[self.offset] {
        case UInt8(ascii: "n"): try self.expect("null"); return .null
        case UInt8(ascii: "t"): try self.expect("true"); return .bool(true)
        case UInt8(ascii: "f"): try self.expect("false"); return .bool(false)
        case UInt8(ascii: "\""): return .string(try self.parseString())
        case UInt8(ascii: "["):
            self.offset += 1
            var items: [JSONValue] = []
            self.skipWhitespace()
            if self.offset < self.bytes.count, self.bytes[self.offset] == UInt8(ascii: "]") {
                self.offset += 1
                return .array(items)
            }
            while true {
                items.append(try self.parseValue(depth: depth + 1))
                self.skipWhitespace()
                guard self.offset < self.bytes.count else { throw self.failure("unterminated array") }
                let byte = self.bytes[self.offset]
                self.offset += 1
                if byte == UInt8(ascii: "]") { return .array(items) }
                guard byte == UInt8(ascii: ",") else { throw self.failure("expected , or ]") }
            }
        case UInt8(ascii: "{"):
            self.offset += 1
            var members: [String: JSONValue] = [:]
            self.skipWhitespace()
            if self.offset < self.bytes.count, self.bytes[self.offset] == UInt8(ascii: "}") {
                self.offset += 1
                return .object(members)
            }
            while true {
                self.skipWhitespace()
                guard self.offset < self.bytes.count, self.bytes[self.offset] == UInt8(ascii: "\"") else {
                    throw self.failure("expected a member name")
                }
                let key = try self.parseString()
                self.skipWhitespace()
                try self.expect(":")
                members[key] = try self.parseValue(depth: depth + 1)
                self.skipWhitespace()
                guard self.offset < self.bytes.count else { throw self.failure("unterminated object") }
                let byte = self.bytes[self.offset]
                self.offset += 1
                if byte == UInt8(ascii: "}") { return .object(members) }
                guard byte == UInt8(ascii: ",") else { throw self.failure("expected , or }") }
            }
        default:
            return .integer(try self.parseInteger())
        }
    }

    mutating func parseInteger() throws -> Int64 {
        let start = self.offset
        if self.offset < self.bytes.count, self.bytes[self.offset] == UInt8(ascii: "-") { self.offset += 1 }
        while self.offset < self.bytes.count, (0x30...0x39).contains(self.bytes[self.offset]) { self.offset += 1 }
        let text = String(decoding: self.bytes[start..<self.offset], as: UTF8.self)
        guard let number = Int64(text) else { throw self.failure("expected an integer") }
        return number
    }

    mutating func parseString() throws -> String {
        self.offset += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = self.offset
        func flush(_ parser: JSONParser, upTo end: Int) {
            scalars.append(contentsOf: String(decoding: parser.bytes[runStart..<end], as: UTF8.self).unicodeScalars)
        }
        while self.offset < self.bytes.count {
            let byte = self.bytes[self.offset]
            if byte == UInt8(ascii: "\"") {
                flush(self, upTo: self.offset)
                self.offset += 1
                return String(scalars)
            }
            if byte == UInt8(ascii: "\\") {
                flush(self, upTo: self.offset)
                self.offset += 1
                guard self.offset < self.bytes.count else { break }
                let escaped = self.bytes[self.offset]
                self.offset += 1
                switch escaped {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "u"):
                    var code = try self.parseHex4()
                    if (0xD800..<0xDC00).contains(code) {
                        try self.expect("\\u")
                        let low = try self.parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw self.failure("bad surrogate pair") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw self.failure("bad \\u escape") }
                    scalars.append(scalar)
                default: throw self.failure("bad escape")
                }
                runStart = self.offset
                continue
            }
            self.offset += 1
        }
        throw self.failure("unterminated string")
    }

    mutating func parseHex4() throws -> UInt32 {
        guard self.offset + 4 <= self.bytes.count,
              let code = UInt32(String(decoding: self.bytes[self.offset..<self.offset + 4], as: UTF8.self), radix: 16)
        else { throw self.failure("bad \\u escape") }
        self.offset += 4
        return code
    }
}
