import Foundation
import HyperMeshCore

/// An image as it lies on disk before import: an OCI image layout directory, or a `docker save` tarball (unpacked
/// to a directory first; newer Docker writes an OCI layout inside it, older ones `manifest.json`). Reading it
/// verifies every blob against its digest; nothing is trusted by name.
struct ImageArchive {
    /// A verified blob: where it lies and what it is.
    struct Blob {
        var path: String
        var digest: String
        var size: Int64
        var mediaType: String
    }

    var names: [String]
    var configuration: Blob
    var configurationJSON: JSONValue
    /// Bottom first.
    var layers: [Blob]
    /// The manifest, kept with the image (OCI layouts only).
    var manifest: Blob?

    static let layerTypes: Set<String> = [
        "application/vnd.oci.image.layer.v1.tar", "application/vnd.oci.image.layer.v1.tar+gzip",
        "application/vnd.docker.image.rootfs.diff.tar.gzip", "application/vnd.docker.image.rootfs.diff.tar",
    ]

    /// Reads the image in `directory` (`source` names it in errors).
    static func read(directory: String, source: String) throws -> ImageArchive {
        let manager = FileManager.default
        if manager.fileExists(atPath: directory + "/index.json") {
            return try self.readLayout(directory, source: source)
        }
        if manager.fileExists(atPath: directory + "/manifest.json") {
            return try self.readDockerSave(directory, source: source)
        }
        throw HyperMeshError.invalidArgument("\(source): neither an OCI image layout (index.json) nor a docker save archive (manifest.json)")
    }

    // MARK: - OCI image layout

    private static func readLayout(_ directory: String, source: String) throws -> ImageArchive {
        let layout = try self.json(directory + "/oci-layout", source: source, what: "oci-layout")
        guard layout["imageLayoutVersion"]?.stringValue?.hasPrefix("1.") == true else {
            throw HyperMeshError.invalidArgument("\(source): oci-layout has no imageLayoutVersion 1.x")
        }
        var index = try self.json(directory + "/index.json", source: source, what: "index.json")
        var names: [String] = []
        // A nested index (a multi-platform image) is followed to its linux/amd64 manifest, else its first.
        for _ in 0..<4 {
            guard let manifests = index["manifests"]?.arrayValue, !manifests.isEmpty else {
                throw HyperMeshError.invalidArgument("\(source): index.json lists no manifests")
            }
            let chosen = manifests.first { $0["platform"]?["architecture"]?.stringValue == "amd64" } ?? manifests[0]
            if let name = chosen["annotations"]?["org.opencontainers.image.ref.name"]?.stringValue { names.append(name) }
            let descriptor = try self.blob(chosen, in: directory, source: source, what: "manifest")
            let body = try self.json(descriptor.path, source: source, what: "manifest \(descriptor.digest)")
            if descriptor.mediaType.hasSuffix("image.index.v1+json") || body["manifests"] != nil {
                index = body
                continue
            }
            guard let configDescriptor = body["config"] else {
                throw HyperMeshError.invalidArgument("\(source): manifest \(descriptor.digest) has no config")
            }
            let configuration = try self.blob(configDescriptor, in: directory, source: source, what: "config")
            let layers = try (body["layers"]?.arrayValue ?? []).enumerated().map { position, layer in
                try self.blob(layer, in: directory, source: source, what: "layer \(position + 1)")
            }
            for (position, layer) in layers.enumerated() where !self.layerTypes.contains(layer.mediaType) {
                throw HyperMeshError.invalidArgument("\(source): layer \(position + 1) has media type \(layer.mediaType), "
                    + "which this build cannot unpack (tar or tar+gzip)")
            }
            let configurationJSON = try self.json(configuration.path, source: source, what: "config")
            return ImageArchive(names: names, configuration: configuration, configurationJSON: configurationJSON, layers: layers,
                                manifest: descriptor)
        }
        throw HyperMeshError.invalidArgument("\(source): image indexes nested more than 4 deep")
    }

    /// A descriptor's blob, verified: it exists, has the size the descriptor says, and hashes to its digest.
    private static func blob(_ descriptor: JSONValue, in directory: String, source: String, what: String) throws -> Blob {
        guard let digest = descriptor["digest"]?.stringValue, ImageDigest.isValid(digest) else {
            throw HyperMeshError.invalidArgument("\(source): \(what) has no sha256 digest")
        }
        let path = directory + "/blobs/sha256/" + ImageDigest.hex(digest)
        guard FileManager.default.fileExists(atPath: path) else {
            throw HyperMeshError.invalidArgument("\(source): \(what) \(digest) is missing from blobs/sha256")
        }
        let actual = try ImageDigest.ofFile(path)
        guard actual.digest == digest else {
            throw HyperMeshError.invalidArgument("\(source): \(what) does not match its digest: \(digest) expected, "
                + "\(actual.digest) found; the image is refused and nothing is stored")
        }
        if let size = descriptor["size"]?.integerValue, size != actual.size {
            throw HyperMeshError.invalidArgument("\(source): \(what) \(digest) is \(actual.size) bytes, not the \(size) its descriptor says")
        }
        return Blob(path: path, digest: digest, size: actual.size, mediaType: descriptor["mediaType"]?.stringValue ?? "")
    }

    // MARK: - docker save (before Docker 25)

    private static func readDockerSave(_ directory: String, source: String) throws -> ImageArchive {
        let manifest = try self.json(directory + "/manifest.json", source: source, what: "manifest.json")
        guard let entry = manifest.arrayValue?.first, let configName = entry["Config"]?.stringValue,
              let layerNames = entry["Layers"]?.arrayValue?.compactMap(\.stringValue)
        else { throw HyperMeshError.invalidArgument("\(source): manifest.json has no Config and Layers") }
        let configPath = try self.member(configName, in: directory, source: source)
        let configuration = try ImageDigest.ofFile(configPath)
        // Legacy archives name the config by its digest: hold them to it.
        let stem = (configName as NSString).lastPathComponent.replacingOccurrences(of: ".json", with: "")
        if stem.count == 64, "sha256:" + stem != configuration.digest {
            throw HyperMeshError.invalidArgument("\(source): config \(configName) hashes to \(configuration.digest), not its name; "
                + "the image is refused and nothing is stored")
        }
        let configurationJSON = try self.json(configPath, source: source, what: configName)
        let diffIDs = configurationJSON["rootfs"]?["diff_ids"]?.arrayValue?.compactMap(\.stringValue) ?? []
        guard diffIDs.count == layerNames.count else {
            throw HyperMeshError.invalidArgument("\(source): \(layerNames.count) layers but the config lists \(diffIDs.count) diff_ids")
        }
        let layers = try zip(layerNames, diffIDs).enumerated().map { position, pair in
            let path = try self.member(pair.0, in: directory, source: source)
            let actual = try ImageDigest.ofFile(path)
            guard actual.digest == pair.1 else {
                throw HyperMeshError.invalidArgument("\(source): layer \(position + 1) (\(pair.0)) does not match its digest: "
                    + "\(pair.1) expected, \(actual.digest) found; the image is refused and nothing is stored")
            }
            return Blob(path: path, digest: actual.digest, size: actual.size, mediaType: "application/vnd.oci.image.layer.v1.tar")
        }
        let names = entry["RepoTags"]?.arrayValue?.compactMap(\.stringValue) ?? []
        return ImageArchive(names: names, configuration: Blob(path: configPath, digest: configuration.digest, size: configuration.size,
                                                              mediaType: "application/vnd.oci.image.config.v1+json"),
                            configurationJSON: configurationJSON, layers: layers, manifest: nil)
    }

    private static func member(_ name: String, in directory: String, source: String) throws -> String {
        guard !name.hasPrefix("/"), !name.split(separator: "/").contains("..") else {
            throw HyperMeshError.invalidArgument("\(source): \(name) points outside the archive")
        }
        let path = directory + "/" + name
        guard FileManager.default.fileExists(atPath: path) else { throw HyperMeshError.invalidArgument("\(source): \(name) is missing") }
        return path
    }

    private static func json(_ path: String, source: String, what: String) throws -> JSONValue {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HyperMeshError.invalidArgument("\(source): \(what) is missing")
        }
        guard data.count <= 4 << 20 else { throw HyperMeshError.invalidArgument("\(source): \(what) is larger than 4 MiB") }
        do {
            return try JSONValue(parsingJSON: String(decoding: data, as: UTF8.self))
        } catch {
            throw HyperMeshError.invalidArgument("\(source): \(what) is not JSON: \(error)")
        }
    }
}
