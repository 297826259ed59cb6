import Crypto
import Foundation
import HyperMeshCore

/// One version of a mirrored source (a file or a directory tree): each regular file's manifest,
/// by path, and one root id over them — a Merkle tree (RFC 9162 hashing) of
/// `path ‖ 0x00 ‖ manifest id`, sorted by path. Two versions share every unchanged chunk and
/// every unchanged file's manifest.
public struct SourceVersion: Sendable {
    public struct File: Sendable, Hashable {
        /// Relative to the source (`""` when the source is a single file).
        public var path: String
        public var manifest: FileManifest
    }

    public var files: [File]
    public var root: ContentID

    public var chunkCount: Int { self.files.reduce(0) { $0 + $1.manifest.chunks.count } }
    public var byteCount: Int { self.files.reduce(0) { $0 + $1.manifest.size } }

    /// Reads `source` (regular files only; symbolic links are not followed), chunks every file,
    /// and puts the chunks into `store` when one is given.
    ///
    /// - Throws: ``HyperMeshError`` `io` when the source or a file cannot be read; `conflict` when a file
    ///   changes while it is read.
    public static func scan(_ source: String, chunker: FastCDC, store: ChunkStore? = nil) throws -> SourceVersion {
        let paths = try Self.regularFiles(in: source)
        var files: [File] = []
        let reader = FileChunker(chunker: chunker)
        for relative in paths {
            let manifest = try reader.chunk(relative.isEmpty ? source : source + "/" + relative) { _, bytes in
                try store?.put(Array(bytes))
            }
            files.append(File(path: relative, manifest: manifest))
        }
        return SourceVersion(files: files, root: Self.root(of: files))
    }

    /// The regular files of `source`, relative to it and sorted (`[""]` when `source` is itself a file);
    /// symbolic links and other special files are skipped.
    ///
    /// - Throws: ``HyperMeshError`` `io` when `source` does not exist or cannot be listed.
    public static func regularFiles(in source: String) throws -> [String] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: source, isDirectory: &isDirectory) else {
            throw HyperMeshError.io("source \(source) does not exist")
        }
        guard isDirectory.boolValue else { return [""] }
        guard let enumerator = FileManager.default.enumerator(atPath: source) else { throw HyperMeshError.io("cannot list \(source)") }
        return enumerator.compactMap { $0 as? String }.filter { relative in
            let attributes = try? FileManager.default.attributesOfItem(atPath: source + "/" + relative)
            return attributes?[.type] as? FileAttributeType == .typeRegular
        }.sorted()
    }

    /// The Merkle root over `files` (sorted by path).
    public static func root(of files: [File]) -> ContentID {
        var level: [[UInt8]] = files.sorted { $0.path < $1.path }.map { file in
            var hasher = SHA256()
            hasher.update(data: [0x00])
            hasher.update(data: Array(file.path.utf8) + [0x00] + file.manifest.id.digest)
            return Array(hasher.finalize())
        }
        if level.isEmpty { return ContentID(of: []) }
        // RFC 9162: split at the largest power of two below n; pairing from the left gives the same tree.
        func root(_ nodes: ArraySlice<[UInt8]>) -> [UInt8] {
            if nodes.count == 1 { return nodes.first! }
            var split = 1
            while split << 1 < nodes.count { split <<= 1 }
            var hasher = SHA256()
            hasher.update(data: [0x01])
            hasher.update(data: root(nodes.prefix(split)))
            hasher.update(data: root(nodes.dropFirst(split)))
            return Array(hasher.finalize())
        }
        level = [root(level[...])]
        return ContentID(digest: level[0])
    }
}
