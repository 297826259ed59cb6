import Foundation
import HyperMeshConsensus
import HyperMeshCore

/// The history tick a validator's clients name in their operations (PoTime), kept in the state directory
/// by the validator (replaced atomically each second) and read by `hypermesh consensus submit`.
///
/// Format: one line, `VALIDATOR TICK HASH-HEX`.
public enum TimeReferenceFile {
    public static func write(_ reference: TimeReference, to path: String) throws {
        let text = "\(reference.validator) \(reference.tick) \(reference.hash.bytes.hexString)\n"
        let temporary = path + ".tmp"
        do {
            try Data(text.utf8).write(to: URL(fileURLWithPath: temporary))
            guard rename(temporary, path) == 0 else { throw HyperMeshError.io("cannot replace \(path): \(String(cString: strerror(errno)))") }
        } catch let error as HyperMeshError {
            throw error
        } catch {
            throw HyperMeshError.io("cannot write \(path)", cause: error)
        }
    }

    /// The reference in `path`; errors say what is wrong with the file.
    public static func read(from path: String) throws -> TimeReference {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw HyperMeshError.notFound("no history tick at \(path): the mesh requires PoTime, and this node's validator has not "
                + "published its history yet (is `hypermesh consensus validator` running?)")
        }
        let fields = String(decoding: data, as: UTF8.self).split(whereSeparator: \.isWhitespace)
        guard fields.count == 3, let validator = Int(fields[0]), let tick = UInt64(fields[1]),
              let hash = [UInt8](hexString: String(fields[2])), hash.count == 32 else {
            throw HyperMeshError.corruptData("\(path): expected `VALIDATOR TICK HASH` (hash: 64 hex digits)")
        }
        return TimeReference(validator: validator, tick: tick, hash: ConsensusHash(bytes: hash))
    }
}
