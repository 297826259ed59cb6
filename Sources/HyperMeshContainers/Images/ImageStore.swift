import Foundation
import HyperMeshCore

/// The images of this node, under `STATE/images`: verified blobs by digest (`blobs/sha256/<hex>`), one record per
/// image (`images/<hex>.json`), and each layer unpacked once into a content-addressed cache (`layers/<hex>/`) that
/// every container of every image sharing the layer mounts read-only under its own overlay.
///
/// Import is all or nothing: every blob is checked against its digest before the first is stored, and a record
/// appears (atomically) only once its blobs and unpacked layers are in place.
public struct ImageStore: Sendable {
    public let root: String

    public init(stateDirectory: URL) {
        self.root = stateDirectory.appendingPathComponent("images").path
    }

    var blobsDirectory: String { self.root + "/blobs/sha256" }
    var recordsDirectory: String { self.root + "/images" }
    var layersDirectory: String { self.root + "/layers" }
    var temporaryDirectory: String { self.root + "/tmp" }

    // MARK: - Import

    /// Imports the OCI image layout directory or `docker save` tarball at `path`.
    ///
    /// - Throws: ``HyperMeshError`` `invalidArgument` saying what is wrong with the image (a blob that does not
    ///   match its digest, a missing file, a layer type this build cannot unpack); nothing is stored then.
    @discardableResult
    public func importImage(at path: String, now: Date = Date()) throws -> ImageRecord {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw HyperMeshError.notFound("\(path): no such file or directory")
        }
        try self.makeDirectories()
        let scratch = self.temporaryDirectory + "/import-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: scratch) }
        let directory: String
        if isDirectory.boolValue {
            directory = path
        } else {
            let untar = try ChildProcess.run("/bin/tar", ["-x", "-f", path, "-C", scratch, "--no-same-owner"])
            guard untar.status == 0 else {
                throw HyperMeshError.invalidArgument("\(path): not a tar archive: \(untar.standardError.trimmingCharacters(in: .whitespacesAndNewlines))")
            }
            directory = scratch
        }
        let archive = try ImageArchive.read(directory: directory, source: path)
        for blob in [archive.configuration] + archive.layers + (archive.manifest.map { [$0] } ?? []) {
            try self.storeBlob(blob, movable: !isDirectory.boolValue)
        }
        for layer in archive.layers { _ = try self.unpackedLayer(layer.digest) }
        let config = archive.configurationJSON["config"]
        func strings(_ key: String) -> [String] { config?[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        let existing = try? self.record(id: archive.configuration.digest)
        let record = ImageRecord(
            id: archive.configuration.digest, names: Array(Set((existing?.names ?? []) + archive.names)).sorted(),
            layers: archive.layers.map { ImageRecord.Layer(digest: $0.digest, size: $0.size, mediaType: $0.mediaType) },
            entrypoint: strings("Entrypoint"), command: strings("Cmd"), environment: strings("Env"),
            workingDirectory: config?["WorkingDir"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 } ?? "/",
            user: config?["User"]?.stringValue ?? "",
            importedAt: existing?.importedAt ?? Date(timeIntervalSince1970: now.timeIntervalSince1970.rounded(.down)))
        try self.writeAtomically(Data((record.json.prettyJSON() + "\n").utf8),
                                 to: self.recordsDirectory + "/" + ImageDigest.hex(record.id) + ".json")
        return record
    }

    private func makeDirectories() throws {
        for directory in [self.blobsDirectory, self.recordsDirectory, self.layersDirectory, self.temporaryDirectory] {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        }
    }

    private func storeBlob(_ blob: ImageArchive.Blob, movable: Bool) throws {
        let target = self.blobsDirectory + "/" + ImageDigest.hex(blob.digest)
        if FileManager.default.fileExists(atPath: target) { return }
        let temporary = self.temporaryDirectory + "/blob-\(UUID().uuidString)"
        if movable {
            try FileManager.default.moveItem(atPath: blob.path, toPath: temporary)
        } else {
            try FileManager.default.copyItem(atPath: blob.path, toPath: temporary)
        }
        guard rename(temporary, target) == 0 else { throw HyperMeshError.io("cannot store blob \(blob.digest): \(errnoText())") }
    }

    func writeAtomically(_ data: Data, to path: String) throws {
        let temporary = path + ".tmp-\(getpid())"
        guard FileManager.default.createFile(atPath: temporary, contents: data) else { throw HyperMeshError.io("cannot write \(temporary)") }
        guard rename(temporary, path) == 0 else { throw HyperMeshError.io("cannot write \(path): \(errnoText())") }
    }

    // MARK: - Reading

    /// Every image, newest import first.
    public func images() throws -> [ImageRecord] {
        let files = (try? FileManager.default.contentsOfDirectory(atPath: self.recordsDirectory)) ?? []
        return try files.filter { $0.hasSuffix(".json") }.map { file in
            try self.readRecord(self.recordsDirectory + "/" + file)
        }.sorted { ($0.importedAt, $0.id) > ($1.importedAt, $1.id) }
    }

    /// The image with this id.
    public func record(id: String) throws -> ImageRecord? {
        guard ImageDigest.isValid(id) else { return nil }
        let path = self.recordsDirectory + "/" + ImageDigest.hex(id) + ".json"
        guard FileManager.default.fileExists(atPath: path) else { return nil }
        return try self.readRecord(path)
    }

    /// Resolves what a spec or a user names: a full id (`sha256:…`), a unique id prefix of at least 12 hex digits,
    /// or a name the image was imported under (`busybox:latest`).
    public func resolve(_ reference: String) throws -> ImageRecord? {
        if let exact = try self.record(id: reference) { return exact }
        let images = try self.images()
        if let named = images.first(where: { $0.names.contains(reference) }) { return named }
        let prefix = reference.hasPrefix("sha256:") ? String(reference.dropFirst(7)) : reference
        guard prefix.count >= 12 else { return nil }
        let matches = images.filter { ImageDigest.hex($0.id).hasPrefix(prefix) }
        return matches.count == 1 ? matches[0] : nil
    }

    private func readRecord(_ path: String) throws -> ImageRecord {
        guard let data = FileManager.default.contents(atPath: path) else { throw HyperMeshError.io("cannot read \(path)") }
        return try ImageRecord(json: JSONValue(parsingJSON: String(decoding: data, as: UTF8.self)), file: path)
    }

    // MARK: - The unpacked layer cache

    /// The directory holding layer `digest` unpacked, with OCI whiteouts turned into overlayfs ones; unpacked now
    /// if it is not yet.
    public func unpackedLayer(_ digest: String) throws -> String {
        let target = self.layersDirectory + "/" + ImageDigest.hex(digest)
        if FileManager.default.fileExists(atPath: target) { return target }
        let blob = self.blobsDirectory + "/" + ImageDigest.hex(digest)
        guard FileManager.default.fileExists(atPath: blob) else { throw HyperMeshError.notFound("layer \(digest) is not in the image store") }
        try self.makeDirectories()
        let scratch = self.temporaryDirectory + "/layer-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: scratch, withIntermediateDirectories: false)
        let untar = try ChildProcess.run("/bin/tar", ["-x", "-f", blob, "-C", scratch, "--numeric-owner"])
        guard untar.status == 0 else {
            try? FileManager.default.removeItem(atPath: scratch)
            throw HyperMeshError.io("cannot unpack layer \(digest): \(untar.standardError.trimmingCharacters(in: .whitespacesAndNewlines))")
        }
        try Whiteouts.convert(in: scratch)
        // Another import or start may have unpacked it meanwhile: theirs is as good.
        if rename(scratch, target) != 0 { try? FileManager.default.removeItem(atPath: scratch) }
        return target
    }

    /// The overlay `lowerdir` of an image: its unpacked layers, topmost first.
    public func lowerDirectories(of image: ImageRecord) throws -> [String] {
        try image.layers.reversed().map { try self.unpackedLayer($0.digest) }
    }
}
