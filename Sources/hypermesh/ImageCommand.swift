import ArgumentParser
import Foundation
import HyperMeshCommands
import HyperMeshContainers
import HyperMeshCore

/// `hypermesh image`: the node's image store, filled without a registry.
struct ImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "image",
        abstract: "Import OCI images into this node's store and list them.",
        discussion: """
            Images come from an OCI image layout directory (umoci, skopeo copy oci:, buildah push oci:) or a
            `docker save` tarball. Every blob is checked against its digest; a mismatch refuses the whole image
            and stores nothing. Layers are unpacked once into a shared cache that every container mounts
            read-only under its own overlay.

            Examples:
              hypermesh image import ./busybox-oci
              docker save alpine:3.20 -o alpine.tar && hypermesh image import alpine.tar
              hypermesh get images
            """,
        subcommands: [ImportImageCommand.self, ListImagesCommand.self]
    )
}

struct ImportImageCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "import", abstract: "Import images (OCI layout directories or docker save tarballs).")

    @OptionGroup var global: GlobalOptions
    @Argument(help: "OCI image layout directories or docker save tarballs.") var paths: [String]
    @Option(name: .shortAndLong, help: "Output format: table, json or name.") var output: OutputFormat = .table

    func validate() throws {
        if self.paths.isEmpty { throw ValidationError("give at least one image path") }
    }

    func run() throws {
        let store = ImageStore(stateDirectory: self.global.stateDirectory)
        var records: [ImageRecord] = []
        for path in self.paths { records.append(try store.importImage(at: path)) }
        ImagesTable.show(records, output: self.output, store: store)
    }
}

struct ListImagesCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "list", abstract: "List the images of this node's store (as get images).")

    @OptionGroup var global: GlobalOptions
    @Option(name: .shortAndLong, help: "Output format: table, json or name.") var output: OutputFormat = .table

    func run() throws {
        let store = ImageStore(stateDirectory: self.global.stateDirectory)
        ImagesTable.show(try store.images(), output: self.output, store: store)
    }
}

/// `get images` and what `image import` prints.
enum ImagesTable {
    /// `1.4Mi`, as `docker images` rounds sizes.
    static func bytes(_ count: Int64) -> String {
        var value = Double(count)
        for unit in ["B", "Ki", "Mi", "Gi"] {
            if value < 1024 || unit == "Gi" { return unit == "B" ? "\(count)B" : String(format: "%.1f%@", value, unit) }
            value /= 1024
        }
        return "\(count)B"
    }

    static func show(_ images: [ImageRecord], output: OutputFormat, store: ImageStore) {
        switch output {
        case .json, .yaml:
            Output.line(JSONValue.object(["kind": "ImageList", "items": .array(images.map { image in
                .object(["id": .string(image.id), "names": .array(image.names.map { .string($0) }), "size": .integer(image.size),
                         "layers": .array(image.layers.map { .string($0.digest) }), "heldBy": ["this node"],
                         "importedAt": .string(Timestamp.format(image.importedAt))])
            })]).prettyJSON())
        case .name:
            for image in images { Output.line("image/\(image.shortID)") }
        case .table:
            var table = TextTable(headers: ["ID", "NAMES", "SIZE", "LAYERS", "HELD-BY", "AGE"])
            for image in images {
                table.append([image.shortID, image.names.isEmpty ? "-" : image.names.joined(separator: ","),
                              self.bytes(image.size), "\(image.layers.count)", "this node",
                              Timestamp.age(since: image.importedAt)])
            }
            Output.line(images.isEmpty ? "No images in \(store.root) (hypermesh image import PATH)." : table.rendered)
        }
    }
}
