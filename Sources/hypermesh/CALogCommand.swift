import ArgumentParser
import Foundation
import HyperMeshCore
import TrustChain

struct CALogCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "log", abstract: "The transparency log of issued certificates (RFC 9162 style). Hashes are hex.",
        subcommands: [Head.self, Prove.self, Consistency.self])

    static func hex(_ bytes: [UInt8]) -> String { bytes.hexString }

    struct Head: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "The signed tree head: size, root, time, signature (base64).")
        @OptionGroup var global: GlobalOptions

        func run() throws {
            let head = try self.global.openCA().signedTreeHead()
            var json = head.json.objectValue ?? [:]
            json["rootHashHex"] = .string(CALogCommand.hex(head.rootHash))
            Output.line(JSONValue.object(json).prettyJSON())
        }
    }

    struct Prove: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Inclusion proof of a certificate in the current tree.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The certificate's serial in hex.") var serial: String

        func run() throws {
            let proof = try self.global.openCA().log.inclusionProof(serial: self.serial)
            Output.line(JSONValue.object([
                "leafIndex": .integer(Int64(proof.leafIndex)), "treeSize": .integer(Int64(proof.treeSize)),
                "leafHash": .string(CALogCommand.hex(proof.leafHash)), "rootHash": .string(CALogCommand.hex(proof.rootHash)),
                "path": .array(proof.path.map { .string(CALogCommand.hex($0)) }),
            ]).prettyJSON())
        }
    }

    struct Consistency: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Consistency proof between two tree sizes.")
        @OptionGroup var global: GlobalOptions
        @Argument(help: "The older tree size.") var old: Int
        @Argument(help: "The newer tree size.") var new: Int

        func run() throws {
            let log = try self.global.openCA().log
            let proof = try log.consistencyProof(oldSize: self.old, newSize: self.new)
            Output.line(JSONValue.object([
                "oldSize": .integer(Int64(self.old)), "newSize": .integer(Int64(self.new)),
                "oldRoot": .string(CALogCommand.hex(try log.rootHash(size: self.old).root)),
                "newRoot": .string(CALogCommand.hex(try log.rootHash(size: self.new).root)),
                "proof": .array(proof.map { .string(CALogCommand.hex($0)) }),
            ]).prettyJSON())
        }
    }
}
