import Foundation
import HyperMeshContainers
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// The image store against layouts the test writes by hand: every refusal names what is wrong, and stores nothing.
struct ImageStoreTests {
    /// An OCI layout with one uncompressed layer holding `files`, written without any tool but tar.
    static func layout(in directory: TemporaryDirectory, files: [String: String] = ["hello.txt": "hi\n"],
                       whiteouts: [String] = []) throws -> String {
        let root = directory.path + "/root-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for (path, text) in files {
            let full = root + "/" + path
            try FileManager.default.createDirectory(atPath: (full as NSString).deletingLastPathComponent, withIntermediateDirectories: true)
            try text.write(toFile: full, atomically: true, encoding: .utf8)
        }
        for marker in whiteouts { FileManager.default.createFile(atPath: root + "/" + marker, contents: Data()) }
        let layout = directory.path + "/layout-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: layout + "/blobs/sha256", withIntermediateDirectories: true)
        let tar = layout + "/layer.tar"
        let made = try ProcessRunner.run(URL(fileURLWithPath: "/bin/tar"), ["-C", root, "-cf", tar, "."])
        precondition(made.status == 0)
        func store(_ data: Data) -> (String, Int) {
            let digest = "sha256:" + sha256Hex(data)
            FileManager.default.createFile(atPath: layout + "/blobs/sha256/" + digest.dropFirst(7), contents: data)
            return (digest, data.count)
        }
        let layerData = try Data(contentsOf: URL(fileURLWithPath: tar))
        try FileManager.default.removeItem(atPath: tar)
        let layer = store(layerData)
        let config = store(Data(#"{"config":{"Cmd":["/hello"],"Env":["A=1"],"WorkingDir":"/w","User":"7:8"},"rootfs":{"diff_ids":["\#(layer.0)"]}}"#.utf8))
        let manifest = store(Data(("{\"schemaVersion\":2,\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"\(config.0)\",\"size\":\(config.1)},"
            + "\"layers\":[{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar\",\"digest\":\"\(layer.0)\",\"size\":\(layer.1)}]}").utf8))
        try #"{"imageLayoutVersion":"1.0.0"}"#.write(toFile: layout + "/oci-layout", atomically: true, encoding: .utf8)
        try ("{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"\(manifest.0)\","
            + "\"size\":\(manifest.1),\"annotations\":{\"org.opencontainers.image.ref.name\":\"hand:1\"}}]}")
            .write(toFile: layout + "/index.json", atomically: true, encoding: .utf8)
        return layout
    }

    static func sha256Hex(_ data: Data) -> String {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("hm-digest-\(UUID().uuidString)")
        try? data.write(to: file)
        defer { try? FileManager.default.removeItem(at: file) }
        let result = try? ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/sha256sum"), [file.path])
        return String(result?.standardOutput.prefix(64) ?? "")
    }

    @Test func importsALayoutUnpacksItOnceAndResolvesItsNames() throws {
        let directory = try TemporaryDirectory(prefix: "hm-images")
        defer { directory.remove() }
        let store = ImageStore(stateDirectory: directory.url.appendingPathComponent("state"))
        let record = try store.importImage(at: try Self.layout(in: directory))
        #expect(record.names == ["hand:1"])
        #expect(record.command == ["/hello"] && record.environment == ["A=1"] && record.workingDirectory == "/w" && record.user == "7:8")
        #expect(try store.resolve("hand:1")?.id == record.id)
        #expect(try store.resolve(String(record.id.dropFirst(7).prefix(12)))?.id == record.id)
        #expect(try store.resolve("sha256:" + String(record.id.dropFirst(7).prefix(5))) == nil)  // too short to be an id
        #expect(try store.resolve("other:1") == nil)
        let lower = try store.lowerDirectories(of: record)
        #expect(lower.count == 1)
        #expect(try String(contentsOfFile: lower[0] + "/hello.txt", encoding: .utf8) == "hi\n")
        // Importing again changes nothing and keeps the first import time.
        let again = try store.importImage(at: try Self.layout(in: directory))
        #expect(again.id == record.id && again.importedAt == record.importedAt)
        #expect(try store.images().count == 1)
    }

    @Test func turnsOCIWhiteoutsIntoOverlayOnes() throws {
        let directory = try TemporaryDirectory(prefix: "hm-whiteouts")
        defer { directory.remove() }
        let store = ImageStore(stateDirectory: directory.url.appendingPathComponent("state"))
        let record = try store.importImage(at: try Self.layout(in: directory, files: ["etc/keep": "k", "opaque/x": "x"],
                                                               whiteouts: ["etc/.wh.gone", "opaque/.wh..wh..opq"]))
        let layer = try #require(try store.lowerDirectories(of: record).first)
        var info = stat()
        #expect(stat(layer + "/etc/gone", &info) == 0)
        #expect(info.st_mode & S_IFMT == S_IFCHR && info.st_rdev == 0)
        #expect(!FileManager.default.fileExists(atPath: layer + "/etc/.wh.gone"))
        #expect(!FileManager.default.fileExists(atPath: layer + "/opaque/.wh..wh..opq"))
        let opaque = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/python3"),
                                           ["-c", "import os, sys; print(os.getxattr(sys.argv[1], 'trusted.overlay.opaque').decode())", layer + "/opaque"])
        #expect(opaque.standardOutput == "y\n", "\(opaque.standardError)")
    }

    @Test(arguments: [
        ("index.json", "{}", "index.json lists no manifests"),
        ("index.json", "not json", "index.json is not JSON"),
        ("oci-layout", #"{"imageLayoutVersion":"2.0"}"#, "oci-layout has no imageLayoutVersion 1.x"),
    ])
    func refusesBrokenLayoutsStoringNothing(file: String, content: String, message: String) throws {
        let directory = try TemporaryDirectory(prefix: "hm-broken")
        defer { directory.remove() }
        let layout = try Self.layout(in: directory)
        try content.write(toFile: layout + "/" + file, atomically: true, encoding: .utf8)
        let store = ImageStore(stateDirectory: directory.url.appendingPathComponent("state"))
        #expect { try store.importImage(at: layout) } throws: { error in
            (error as? HyperMeshError)?.message.contains(message) == true
        }
        #expect(try store.images().isEmpty)
        #expect(((try? FileManager.default.contentsOfDirectory(atPath: store.root + "/blobs/sha256")) ?? []).isEmpty)
    }

    @Test func refusesMissingBlobsWrongSizesAndUnknownLayerTypes() throws {
        let directory = try TemporaryDirectory(prefix: "hm-blobs")
        defer { directory.remove() }
        let store = ImageStore(stateDirectory: directory.url.appendingPathComponent("state"))
        func refusal(_ edit: (String) throws -> Void) throws -> String {
            let layout = try Self.layout(in: directory)
            try edit(layout)
            do {
                try store.importImage(at: layout)
                return "imported"
            } catch let error as HyperMeshError {
                return error.message
            }
        }
        let blobs = { (layout: String) in try FileManager.default.contentsOfDirectory(atPath: layout + "/blobs/sha256") }
        // The manifest's own blob removed.
        #expect(try refusal { layout in
            let index = try String(contentsOfFile: layout + "/index.json", encoding: .utf8)
            let manifest = String(index.split(separator: "\"").first { $0.hasPrefix("sha256:") }!.dropFirst(7))
            try FileManager.default.removeItem(atPath: layout + "/blobs/sha256/" + manifest)
        }.contains("is missing from blobs/sha256"))
        // A layer type this build cannot unpack.
        #expect(try refusal { layout in
            for blob in try blobs(layout) {
                let path = layout + "/blobs/sha256/" + blob
                let text = try String(contentsOfFile: path, encoding: .utf8)
                guard text.contains("\"layers\"") else { continue }
                let edited = text.replacingOccurrences(of: "layer.v1.tar\"", with: "layer.v1.tar+zstd\"")
                let index = try String(contentsOfFile: layout + "/index.json", encoding: .utf8)
                let digest = Self.sha256Hex(Data(edited.utf8))
                try edited.write(toFile: layout + "/blobs/sha256/" + digest, atomically: true, encoding: .utf8)
                try index.replacingOccurrences(of: blob, with: digest).replacingOccurrences(of: "\"size\":\(text.utf8.count)",
                                                                                          with: "\"size\":\(edited.utf8.count)")
                    .write(toFile: layout + "/index.json", atomically: true, encoding: .utf8)
            }
        }.contains("which this build cannot unpack"))
        #expect(try store.images().isEmpty)
        #expect { try store.importImage(at: directory.path + "/none") } throws: { ($0 as? HyperMeshError)?.code == .notFound }
        let empty = directory.path + "/empty"
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        #expect { try store.importImage(at: empty) } throws: {
            ($0 as? HyperMeshError)?.message.contains("neither an OCI image layout") == true
        }
    }
}
