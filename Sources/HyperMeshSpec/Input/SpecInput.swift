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
            throw HyperMeshError.invalidArgument("\(displayPath): not UTF-8 text")
        }
        return SpecInput(displayPath: displayPath, text: text)
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
