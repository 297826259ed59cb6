import Foundation
import HyperMeshCore

/// An image in the local store: its id (the digest of its config, as Docker and OCI tools name images), the
/// names it was imported under, its layers in order (bottom first) and the parts of its config a container
/// starts from.
public struct ImageRecord: Sendable, Equatable {
    public struct Layer: Sendable, Equatable {
        /// `sha256:<hex>` of the blob as stored (compressed or not, as the image had it).
        public var digest: String
        public var size: Int64
        public var mediaType: String
    }

    /// `sha256:<hex>` of the image config.
    public var id: String
    public var names: [String]
    public var layers: [Layer]
    public var entrypoint: [String]
    public var command: [String]
    public var environment: [String]
    public var workingDirectory: String
    public var user: String
    public var importedAt: Date

    /// The bytes of all layers.
    public var size: Int64 { self.layers.reduce(0) { $0 + $1.size } }

    /// The first 12 hex digits, as `get images` shows an id.
    public var shortID: String { String(self.id.dropFirst("sha256:".count).prefix(12)) }

    var json: JSONValue {
        .object([
            "id": .string(self.id), "names": .array(self.names.map { .string($0) }),
            "layers": .array(self.layers.map { .object(["digest": .string($0.digest), "size": .integer($0.size),
                                                         "mediaType": .string($0.mediaType)]) }),
            "entrypoint": .array(self.entrypoint.map { .string($0) }), "command": .array(self.command.map { .string($0) }),
            "environment": .array(self.environment.map { .string($0) }), "workingDirectory": .string(self.workingDirectory),
            "user": .string(self.user), "importedAt": .string(Timestamp.format(self.importedAt)),
        ])
    }

    init(id: String, names: [String], layers: [Layer], entrypoint: [String], command: [String], environment: [String],
         workingDirectory: String, user: String, importedAt: Date)
    {
        self.id = id
        self.names = names
        self.layers = layers
        self.entrypoint = entrypoint
        self.command = command
        self.environment = environment
        self.workingDirectory = workingDirectory
        self.user = user
        self.importedAt = importedAt
    }

    init(json: JSONValue, file: String) throws {
        guard let id = json["id"]?.stringValue, ImageDigest.isValid(id),
              let layers = json["layers"]?.arrayValue
        else { throw HyperMeshError.corruptData("\(file): not an image record (no id or layers)") }
        func strings(_ key: String) -> [String] { json[key]?.arrayValue?.compactMap(\.stringValue) ?? [] }
        self.id = id
        self.names = strings("names")
        self.layers = try layers.map { layer in
            guard let digest = layer["digest"]?.stringValue, ImageDigest.isValid(digest), let size = layer["size"]?.integerValue else {
                throw HyperMeshError.corruptData("\(file): a layer without a valid digest and size")
            }
            return Layer(digest: digest, size: size, mediaType: layer["mediaType"]?.stringValue ?? "")
        }
        self.entrypoint = strings("entrypoint")
        self.command = strings("command")
        self.environment = strings("environment")
        self.workingDirectory = json["workingDirectory"]?.stringValue ?? "/"
        self.user = json["user"]?.stringValue ?? ""
        self.importedAt = json["importedAt"]?.stringValue.flatMap(Timestamp.parse) ?? Date(timeIntervalSince1970: 0)
    }
}
