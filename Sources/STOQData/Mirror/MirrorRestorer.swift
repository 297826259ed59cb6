import Foundation
import HyperMeshCore

/// Where a restore finds shards: the local shard store, peers over STOQ, or both.
public protocol ShardSource {
    /// The shard's bytes if this source has it (verified against `id`), `nil` if not.
    func shard(_ id: ContentID) throws -> [UInt8]?
    /// The shards of `ids` this source has (verified); a source that cannot be reached has none.
    func shards(_ ids: [ContentID]) -> [ContentID: [UInt8]]
    /// Which of `ids` this source holds, if it can say without sending them (`nil`: unknown, or unreachable).
    func holdings(_ ids: [ContentID]) -> Set<ContentID>?
    /// Whether fetching from this source crosses the network (local copies are taken first).
    var isRemote: Bool { get }
}

extension ShardSource {
    public func shards(_ ids: [ContentID]) -> [ContentID: [UInt8]] {
        var found: [ContentID: [UInt8]] = [:]
        for id in ids {
            if let bytes = (try? self.shard(id)) ?? nil { found[id] = bytes }
        }
        return found
    }

    public func holdings(_ ids: [ContentID]) -> Set<ContentID>? { nil }
    public var isRemote: Bool { false }
}

extension ChunkStore: ShardSource {
    public func shard(_ id: ContentID) throws -> [UInt8]? {
        guard self.contains(id) else { return nil }
        do {
            return try self.get(id)
        } catch let error as HyperMeshError where error.code == .corruptData {
            return nil  // quarantined; another source or parity rebuilds it
        }
    }

    public func holdings(_ ids: [ContentID]) -> Set<ContentID>? { Set(ids.filter(self.contains)) }
}

/// Rebuilds a mirrored version byte-identical from shards alone: each stripe from any `data` of its shards,
/// each chunk checked against its id, each file written under a temporary name and renamed when complete.
///
/// Shards come from all sources at once: each source is first asked which shards it holds; then, a round
/// of stripes at a time, every stripe gets `data` shards assigned — local copies first, then the rarest
/// shards (those the fewest peers hold) from the least-loaded peer holding them — and the peers are fetched
/// from in parallel. A stripe still short after that asks every source for any shard it lacks, parity
/// included. Memory stays at one round of stripes: chunks are written into the files as stripes decode.
public struct MirrorRestorer {
    public let manifest: MirrorManifest
    public let sources: [any ShardSource]

    public init(manifest: MirrorManifest, sources: [any ShardSource]) {
        self.manifest = manifest
        self.sources = sources
    }

    /// How a restore went.
    public struct Outcome: Sendable {
        public var files = 0
        public var bytes = 0
        /// Shards that were missing or corrupt and were rebuilt from the others.
        public var shardsRebuilt = 0
        /// Shards fetched from each remote source, by its position in `sources`.
        public var fetchedFrom: [Int: Int] = [:]
    }

    /// Stripes fetched together: one round of requests to each source serves this many.
    static let stripesPerRound = 32

    /// Decodes the stripes at `indices` (all by default) round by round, handing each stripe's bytes (every
    /// chunk checked against its id) to `body`.
    ///
    /// - Throws: ``HyperMeshError`` `notFound` for the first stripe with fewer than `data` shards reachable.
    @discardableResult
    public func stripes(_ indices: [Int]? = nil, progress: ((Int, Int) -> Void)? = nil,
                        _ body: (Int, [UInt8]) throws -> Void) throws -> Outcome {
        let code = try ReedSolomon(dataShards: self.manifest.data, parityShards: self.manifest.parity)
        let stripes = self.manifest.stripes
        let wanted = indices ?? Array(stripes.indices)
        let all = wanted.flatMap { stripes[$0].shards.compactMap(ContentID.init(hex:)) }
        // Who holds what, asked of every source at once.
        let holdings = concurrentMap(self.sources.count) { self.sources[$0].holdings(all) }
        var outcome = Outcome()
        var done = 0
        for roundStart in stride(from: 0, to: wanted.count, by: Self.stripesPerRound) {
            let round = Array(wanted[roundStart..<min(roundStart + Self.stripesPerRound, wanted.count)])
            let ids = round.map { stripes[$0].shards.map { ContentID(hex: $0) } }
            var found: [ContentID: [UInt8]] = [:]
            let plan = self.plan(ids, holdings: holdings)
            let fetched = concurrentMap(self.sources.count) { index in
                plan[index].map { self.sources[index].shards($0) } ?? [:]
            }
            for (index, got) in fetched.enumerated() {
                found.merge(got) { first, _ in first }
                if self.sources[index].isRemote && !got.isEmpty { outcome.fetchedFrom[index, default: 0] += got.count }
            }
            // Stripes still short (a peer failed, a copy was corrupt): every source, every shard it might have.
            func short(_ position: Int) -> Bool { ids[position].compactMap { $0 }.filter { found[$0] != nil }.count < self.manifest.data }
            for source in self.sources {
                let missing = round.indices.filter(short).flatMap { ids[$0].compactMap { $0 }.filter { found[$0] == nil } }
                guard !missing.isEmpty else { break }
                found.merge(source.shards(missing)) { first, _ in first }
            }
            for (position, index) in round.enumerated() {
                let stripe = stripes[index]
                let shards = ids[position].map { $0.flatMap { found[$0] } }
                let present = shards.compactMap { $0 }.count
                guard present >= self.manifest.data else {
                    throw HyperMeshError.notFound("stripe \(index): only \(present) of \(stripe.shards.count) shards reachable, "
                        + "\(self.manifest.data) needed; the version cannot be restored")
                }
                outcome.shardsRebuilt += shards.prefix(self.manifest.data).filter { $0 == nil }.count
                let bytes = try code.decodeStripe(shards, length: stripe.length)
                var offset = 0
                for (hex, size) in zip(stripe.chunks, stripe.sizes) {
                    let matches = bytes.withUnsafeBytes { ContentID(of: UnsafeRawBufferPointer(rebasing: $0[offset..<offset + size])) }
                        .description == hex
                    guard matches else {
                        throw HyperMeshError.corruptData("stripe \(index): chunk \(hex.prefix(12))… does not match its id after decoding")
                    }
                    offset += size
                }
                try body(index, bytes)
                done += 1
                progress?(done, wanted.count)
            }
        }
        return outcome
    }

    /// Which shards to ask each source for in one round: per stripe, `data` shards — those a local source
    /// holds first, then the rarest, each from the least-loaded remote holder. Sources that cannot say what
    /// they hold are left to the fallback.
    func plan(_ round: [[ContentID?]], holdings: [Set<ContentID>?]) -> [Int: [ContentID]] {
        var plan: [Int: [ContentID]] = [:]
        var load = [Int](repeating: 0, count: self.sources.count)
        for ids in round {
            var candidates: [(id: ContentID, position: Int, holders: [Int])] = []
            for (position, id) in ids.enumerated() {
                guard let id else { continue }
                let holders = holdings.indices.filter { holdings[$0]?.contains(id) == true }
                if !holders.isEmpty { candidates.append((id, position, holders)) }
            }
            let local = candidates.filter { candidate in candidate.holders.contains { !self.sources[$0].isRemote } }
            let remote = candidates.filter { candidate in !candidate.holders.contains { !self.sources[$0].isRemote } }
                .sorted { ($0.holders.count, $0.position) < ($1.holders.count, $1.position) }
            for candidate in (local + remote).prefix(self.manifest.data) {
                let source = candidate.holders.min { (!self.sources[$0].isRemote ? -1 : load[$0], $0) < (!self.sources[$1].isRemote ? -1 : load[$1], $1) }!
                load[source] += 1
                plan[source, default: []].append(candidate.id)
            }
        }
        return plan
    }

    /// The chunks of every stripe (or of `indices`), by id — for small manifests and single stripes; a
    /// restore writes files without holding them all.
    public func chunks(_ indices: [Int]? = nil) throws -> (chunks: [String: [UInt8]], rebuilt: Int) {
        var chunks: [String: [UInt8]] = [:]
        let outcome = try self.stripes(indices) { index, bytes in
            var offset = 0
            for (hex, size) in zip(self.manifest.stripes[index].chunks, self.manifest.stripes[index].sizes) {
                chunks[hex] = Array(bytes[offset..<offset + size])
                offset += size
            }
        }
        return (chunks, outcome.shardsRebuilt)
    }

    /// Writes every file under `directory` (created if needed); a source that was a single file is
    /// written as `directory/name`.
    public func restore(to directory: String, singleFileName: String = "restored",
                        progress: ((Int, Int) -> Void)? = nil) throws -> Outcome {
        let writer = try RestoreWriter(manifest: self.manifest, directory: directory, singleFileName: singleFileName)
        defer { writer.abandon() }
        let needed = self.manifest.stripes.indices.filter { index in self.manifest.stripes[index].chunks.contains(where: writer.isNeeded) }
        var outcome = try self.stripes(needed, progress: progress) { index, bytes in
            try writer.write(stripe: self.manifest.stripes[index], bytes: bytes)
        }
        (outcome.files, outcome.bytes) = try writer.finish()
        return outcome
    }
}

/// The files of a restore: each created under a temporary name at its full size, each chunk written at
/// every offset where a file uses it, renamed into place when every chunk has arrived.
final class RestoreWriter {
    private struct Target {
        var relative: String
        var final: URL
        var temporary: URL
        var size: Int
        var descriptor: Int32
    }

    private var targets: [Target] = []
    /// Chunk id → (file, offset) for every place it goes.
    private var destinations: [String: [(file: Int, offset: Int)]] = [:]
    private var written: Set<String> = []

    init(manifest: MirrorManifest, directory: String, singleFileName: String) throws {
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let stripeChunks = Set(manifest.stripes.flatMap(\.chunks))
        for file in manifest.files {
            let relative = file.path.isEmpty ? singleFileName : file.path
            if let missing = file.chunks.first(where: { !stripeChunks.contains($0) }) {
                throw HyperMeshError.corruptData("file \(relative) names chunk \(missing.prefix(12))…, which no stripe holds")
            }
            let final = URL(fileURLWithPath: directory).appendingPathComponent(relative)
            let temporary = final.deletingLastPathComponent().appendingPathComponent(".\(final.lastPathComponent).restoring")
            try FileManager.default.createDirectory(at: final.deletingLastPathComponent(), withIntermediateDirectories: true)
            let descriptor = open(temporary.path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o644)
            guard descriptor >= 0 else { throw HyperMeshError.io("cannot create \(temporary.path): \(String(cString: strerror(errno)))") }
            let size = file.sizes.reduce(0, +)
            self.targets.append(Target(relative: relative, final: final, temporary: temporary, size: size, descriptor: descriptor))
            guard ftruncate(descriptor, off_t(size)) == 0 else {
                throw HyperMeshError.io("cannot size \(temporary.path): \(String(cString: strerror(errno)))")
            }
            var offset = 0
            for (hex, chunkSize) in zip(file.chunks, file.sizes) {
                self.destinations[hex, default: []].append((self.targets.count - 1, offset))
                offset += chunkSize
            }
        }
    }

    func isNeeded(_ hex: String) -> Bool { self.destinations[hex] != nil }

    func write(stripe: MirrorManifest.Stripe, bytes: [UInt8]) throws {
        var offset = 0
        for (hex, size) in zip(stripe.chunks, stripe.sizes) {
            defer { offset += size }
            guard let places = self.destinations[hex], self.written.insert(hex).inserted else { continue }
            try bytes.withUnsafeBytes { buffer in
                for place in places {
                    let target = self.targets[place.file]
                    var done = 0
                    while done < size {
                        let count = pwrite(target.descriptor, buffer.baseAddress! + offset + done, size - done, off_t(place.offset + done))
                        guard count > 0 else { throw HyperMeshError.io("cannot write \(target.temporary.path): \(String(cString: strerror(errno)))") }
                        done += count
                    }
                }
            }
        }
    }

    /// Checks every chunk arrived, then renames the files into place; returns the files and bytes written.
    func finish() throws -> (files: Int, bytes: Int) {
        if let missing = self.destinations.keys.first(where: { !self.written.contains($0) }) {
            throw HyperMeshError.corruptData("chunk \(missing.prefix(12))… was never decoded")
        }
        for index in self.targets.indices {
            let target = self.targets[index]
            guard close(target.descriptor) == 0 else { throw HyperMeshError.io("cannot write \(target.temporary.path): close failed") }
            self.targets[index].descriptor = -1
            guard rename(target.temporary.path, target.final.path) == 0 else {
                throw HyperMeshError.io("cannot rename into \(target.final.path): \(String(cString: strerror(errno)))")
            }
        }
        let result = (self.targets.count, self.targets.reduce(0) { $0 + $1.size })
        self.targets = []
        return result
    }

    /// Removes temporary files left by a failed restore.
    func abandon() {
        for target in self.targets {
            if target.descriptor >= 0 { close(target.descriptor) }
            unlink(target.temporary.path)
        }
        self.targets = []
    }
}
