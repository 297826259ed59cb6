import Foundation
import HyperMeshCore

/// The text of one spec source, and the name errors use for it.
public struct SpecInput: Sendable {
    /// The path as the user gave it (or `<stdin>`), used in `FILE:LINE:COL`.
    public var displayPath: String
    public var text: String

    public init(displayPath: String, text: String) {
        self.displayPath = displayPath
        self.text = text
    }

    /// The name stdin gets in error messages.
    public static let standardInputName = "<stdin>"

    /// Reads every `-f` argument: files as they are, directories recursively (`*.yaml` and
    /// `*.yml`, sorted by path), and `-` as standard input.
    ///
    /// - Throws: ``HyperMeshError`` (`invalidArgument`) naming a path that does not exist,
    ///   cannot be read, is not UTF-8, or a directory that holds no spec files.
    public static func read(paths: [String], standardInput: () -> Data = { FileHandle.standardInput.readDataToEndOfFile() })
        throws -> [SpecInput]
    {
        guard !paths.isEmpty else { throw HyperMeshError.invalidArgument("no input: give -f FILE, -f DIR or -f -") }
        var inputs: [SpecInput] = []
        for path in paths {
            if path == "-" {
                inputs.append(try decode(standardInput(), displayPath: standardInputName))
                continue
            }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
                throw HyperMeshError.invalidArgument("\(path): no such file or directory")
            }
            if isDirectory.boolValue {
                let files = try specFiles(under: path)
                guard !files.isEmpty else { throw HyperMeshError.invalidArgument("\(path): no *.yaml or *.yml files in this directory") }
                for file in files { inputs.append(try readFile(file)) }
            } else {
                inputs.append(try readFile(path))
            }
        }
        return inputs
    }

    static func readFile(_ path: String) throws -> SpecInput {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HyperMeshError.invalidArgument("\(path): cannot be read")
        }
        return try decode(data, displayPath: path)
    }

    static func decode(_ data: Data, displayPath: String) throws -> SpecInput {
        guard let text = String(data: data, encoding: .utf8) else {
            let bad = Self.firstInvalidUTF8(in: data)
            let byte = String(bad.byte, radix: 16, uppercase: true)
            throw HyperMeshError.invalidArgument(
                "\(displayPath):\(bad.line):\(bad.column): not UTF-8 text (byte 0x\(byte) at offset \(bad.offset))")
        }
        return SpecInput(displayPath: displayPath, text: text)
    }

    /// The line and column (1-based, columns counted in characters as YAML errors count them) of the first
    /// byte that is not part of a well-formed UTF-8 sequence, and that byte.
    static func firstInvalidUTF8(in data: Data) -> (line: Int, column: Int, byte: UInt8, offset: Int) {
        let offset = Self.invalidOffset(in: data)
        let before = data.prefix(offset)
        let line = before.reduce(1) { $1 == 0x0A ? $0 + 1 : $0 }
        let lineStart = before.lastIndex(of: 0x0A).map { $0 + 1 } ?? before.startIndex
        // Everything before the bad byte is valid UTF-8: count its characters, not its bytes.
        let column = String(decoding: data[lineStart..<before.endIndex], as: UTF8.self).count + 1
        return (line, column, data[data.startIndex + offset], offset)
    }

    /// The offset of the first byte that does not start or continue a well-formed UTF-8 sequence.
    static func invalidOffset(in data: Data) -> Int {
        let bytes = [UInt8](data)
        var index = 0
        while index < bytes.count {
            let lead = bytes[index]
            let length: Int
            var low: UInt8 = 0x80, high: UInt8 = 0xBF  // the allowed range of the second byte
            switch lead {
            case 0x00...0x7F: index += 1; continue
            case 0xC2...0xDF: length = 2
            case 0xE0: length = 3; low = 0xA0
            case 0xE1...0xEC, 0xEE...0xEF: length = 3
            case 0xED: length = 3; high = 0x9F
            case 0xF0: length = 4; low = 0x90
            case 0xF1...0xF3: length = 4
            case 0xF4: length = 4; high = 0x8F
            default: return index
            }
            guard index + length <= bytes.count else { return index }
            for position in 1..<length {
                let byte = bytes[index + position]
                let range = position == 1 ? low...high : 0x80...0xBF
                guard range.contains(byte) else { return index }
            }
            index += length
        }
        return max(0, bytes.count - 1)  // not reached for data String(data:encoding:) refused
    }

    static func specFiles(under directory: String) throws -> [String] {
        let root = URL(fileURLWithPath: directory)
        guard let enumerator = FileManager.default.enumerator(at: root, includingPropertiesForKeys: [.isRegularFileKey]) else {
            throw HyperMeshError.invalidArgument("\(directory): cannot be listed")
        }
        var files: [String] = []
        let prefix = directory.hasSuffix("/") ? directory : directory + "/"
        for case let url as URL in enumerator where ["yaml", "yml"].contains(url.pathExtension) {
            guard (try? url.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true else { continue }
            // Keep the user's spelling of the directory so error locations read as they typed them.
            let relative = url.path.hasPrefix(root.path + "/") ? String(url.path.dropFirst(root.path.count + 1)) : url.lastPathComponent
            files.append(prefix + relative)
        }
        return files.sorted()
    }
}
