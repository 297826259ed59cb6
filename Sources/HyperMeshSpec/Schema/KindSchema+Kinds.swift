import HyperMeshCore

/// The five kinds' field tables: the one reference the decoder and `Specs/*.schema.json` share.
extension KindSchema {
    static let privacyLevels = ["private", "private-network", "p2p", "public-network", "full-public"]

    static let resourcePool = KindSchema(
        kind: .resourcePool,
        summary: "What this node shares with the mesh, with limits and a privacy level.",
        spec: ObjectSchema([
            Field("privacy", .string(.oneOf(privacyLevels)), required: true, "Who may claim from the pool."),
            Field("allow", .array(.string(.principal), minimumCount: 1),
                  "Principals allowed to claim (node ids, group:NAME); for private-network and p2p."),
            Field("cpu", .object(ObjectSchema([
                Field("cores", .quantityOrShare(.cores), required: true,
                      "Cores offered, e.g. 4 or 1500m, or a share of the host's usable cores, e.g. 50%."),
                Field("maxPerClaim", .quantity(.cores), "The most one claim may take."),
            ])), "CPU offered."),
            Field("memory", .object(ObjectSchema([
                Field("size", .quantityOrShare(.bytes), required: true,
                      "Memory offered, e.g. 16Gi, or a share of the host's memory, e.g. 25% (whole MiB, rounded down)."),
                Field("maxPerClaim", .quantity(.bytes), "The most one claim may take."),
            ])), "Memory offered."),
            Field("storage", .object(ObjectSchema([
                Field("path", .string(.absolutePath), required: true, "Absolute directory the pool's claims live under."),
                Field("size", .quantityOrShare(.bytes), required: true,
                      "Space offered, e.g. 200Gi, or a share of the size of path's filesystem, e.g. 25% (whole MiB, rounded down)."),
                Field("maxPerClaim", .quantity(.bytes), "The most one claim may take."),
            ])), "Storage offered."),
            Field("gpu", .object(ObjectSchema([
                Field("devices", .array(.string(.text), minimumCount: 1), required: true,
                      "Vulkan devices by index or UUID."),
                Field("memory", .quantity(.bytes), "GPU memory offered."),
                Field("maxPerClaim", .quantity(.bytes), "The most GPU memory one claim may take."),
            ])), "GPUs offered."),
            Field("evictionGrace", .duration, "When the pool shrinks below what other nodes' claims hold, how long they keep it "
                + "before the newest are evicted (default 30s)."),
        ], requiresOneOf: ["cpu", "memory", "storage", "gpu"]),
        crossFieldCheck: { context in
            context.requireAtMost("cpu.maxPerClaim", "cpu.cores")
            context.requireAtMost("memory.maxPerClaim", "memory.size")
            context.requireAtMost("storage.maxPerClaim", "storage.size")
            context.requireAtMost("gpu.maxPerClaim", "gpu.memory")
            if context.spec.value(atPath: "gpu.maxPerClaim") != nil, context.spec.value(atPath: "gpu.memory") == nil {
                context.report("gpu.maxPerClaim", "needs gpu.memory, the total it is a part of")
            }
            if context.spec["allow"] != nil, let privacy = context.spec["privacy"]?.stringValue,
               !["private-network", "p2p"].contains(privacy)
            {
                context.report("allow", "only means something for privacy private-network or p2p, not \(privacy)")
            }
        }
    )

    static let claim = KindSchema(
        kind: .claim,
        summary: "A consumer's request for resources from a pool.",
        spec: ObjectSchema([
            Field("pool", .string(.dnsLabel), required: true, "The pool to claim from."),
            Field("cpu", .quantity(.cores), "Cores, e.g. 2 or 500m."),
            Field("memory", .quantity(.bytes), "Memory, e.g. 4Gi."),
            Field("storage", .quantity(.bytes), "Storage, e.g. 20Gi."),
            Field("gpu", .object(ObjectSchema([
                Field("count", .integer(minimum: 1, maximum: 64), "Number of devices."),
                Field("memory", .quantity(.bytes), "GPU memory."),
            ], requiresOneOf: ["count", "memory"])), "GPU devices and memory."),
            Field("consumer", .string(.principal), "Who consumes it; this node by default."),
            Field("node", .string(.nodeReference), "The provider: another member's node id or name (as `get nodes` shows it). The "
                + "claim is placed on that node's offered pool through the mesh ledger and enforced there; without it, the pool is "
                + "this node's."),
            Field("duration", .duration, "A lease: the claim is released when it ends."),
        ], requiresOneOf: ["cpu", "memory", "storage", "gpu"])
    )

    static let mirrorPolicy = KindSchema(
        kind: .mirrorPolicy,
        summary: "Data to chunk, erasure-code, seed and keep available.",
        spec: ObjectSchema([
            Field("source", .string(.absolutePath), required: true, "Absolute path of a file or directory."),
            Field("chunking", .object(ObjectSchema([
                Field("minSize", .quantity(.bytes), "Smallest chunk (default 16Ki)."),
                Field("avgSize", .quantity(.bytes), "Average chunk (default 64Ki)."),
                Field("maxSize", .quantity(.bytes), "Largest chunk (default 256Ki)."),
            ])), "Content-defined chunk sizes."),
            Field("erasure", .object(ObjectSchema([
                Field("data", .integer(minimum: 1, maximum: 128), "Data shards per stripe (default 10)."),
                Field("parity", .integer(minimum: 0, maximum: 127), "Parity shards per stripe (default 4)."),
            ])), "Reed-Solomon coding."),
            Field("placement", .object(ObjectSchema([
                Field("minCopies", .integer(minimum: 1, maximum: 64), "Distinct targets holding each stripe."),
                Field("privacy", .string(.oneOf(privacyLevels)), "The most open level a peer may be reached at."),
                Field("peers", .array(.string(.principal), minimumCount: 1), "Peers allowed to hold shards."),
            ])), "Where shards may go."),
            Field("repairInterval", .duration, "How often to check and repair."),
            Field("keepVersions", .integer(minimum: 1, maximum: 100), "Versions kept restorable (default 3)."),
        ]),
        crossFieldCheck: { context in
            guard !context.isInvalid("chunking") else { return }
            let minimum = context.quantity("chunking.minSize") ?? Quantity(whole: 16 << 10)!
            let average = context.quantity("chunking.avgSize") ?? Quantity(whole: 64 << 10)!
            let maximum = context.quantity("chunking.maxSize") ?? Quantity(whole: 256 << 10)!
            if minimum < Quantity(whole: 64)! {
                context.report("chunking.minSize", "\(minimum) is smaller than 64 bytes")
            }
            if maximum > Quantity(whole: 64 << 20)! {
                context.report("chunking.maxSize", "\(maximum) is larger than 64Mi")
            }
            if !(minimum <= average && average <= maximum) {
                let path = context.spec.value(atPath: "chunking.avgSize") != nil ? "chunking.avgSize" : "chunking"
                context.report(path, "sizes must satisfy minSize <= avgSize <= maxSize (\(minimum), \(average), \(maximum))")
            }
        }
    )

    static let certificatePolicy = KindSchema(
        kind: .certificatePolicy,
        summary: "A certificate that TrustChain keeps valid on disk.",
        spec: ObjectSchema([
            Field("commonName", .string(.commonName), required: true, "The subject's common name."),
            Field("dnsNames", .array(.string(.dnsName), minimumCount: 1), "DNS subject alternative names."),
            Field("ipAddresses", .array(.string(.ipAddress), minimumCount: 1), "IP subject alternative names."),
            Field("uris", .array(.string(.uri), minimumCount: 1), "URI subject alternative names."),
            Field("usage", .string(.oneOf(["server", "client", "both"])), "Extended key usage (default both)."),
            Field("duration", .duration, "Lifetime of each certificate (default 24h)."),
            Field("renewBefore", .duration, "Renew this long before expiry (default a third of duration)."),
            Field("keyAlgorithm", .string(.oneOf(["p256", "p384", "ed25519"])), "Key type (default p256)."),
            Field("output", .object(ObjectSchema([
                Field("directory", .string(.absolutePath), required: true, "Where cert.pem, key.pem and chain.pem go."),
                Field("mode", .string(.fileMode), "File mode of key.pem (default 0600)."),
            ])), required: true, "Where to write the files."),
        ]),
        crossFieldCheck: { context in
            let duration = context.duration("duration") ?? .hours(24)
            if let renewBefore = context.duration("renewBefore"), renewBefore >= duration {
                context.report("renewBefore", "\(renewBefore) is not shorter than duration (\(duration))")
            }
        }
    )

    static let mesh = KindSchema(
        kind: .mesh,
        summary: "This node's place in the mesh: identity, peers, validators and consensus rules.",
        spec: ObjectSchema([
            Field("node", .object(ObjectSchema([
                Field("name", .string(.dnsLabel), required: true, "This node's name."),
                Field("listen", .string(.hostPort), "Address STOQ listens on (default 0.0.0.0:9292)."),
            ])), required: true, "This node."),
            Field("bootstrap", .array(.string(.hostPort), minimumCount: 1), "Peers to contact first."),
            Field("validators", .array(.object(ObjectSchema([
                Field("id", .string(.nodeID), required: true, "The validator's node id."),
                Field("address", .string(.hostPort), required: true, "Where it listens."),
            ])), minimumCount: 1), "The validators ordering mesh-wide operations."),
            Field("stake", .integer(minimum: 0, maximum: Int64(Int32.max)), "Stake this node puts up."),
            Field("consensus", .object(ObjectSchema([
                Field("requireSpace", .boolean, "Demand proof of space."),
                Field("requireStake", .boolean, "Demand proof of stake."),
                Field("requireWork", .boolean, "Demand proof of work."),
                Field("requireTime", .boolean, "Demand proof of time."),
                Field("minimumStake", .integer(minimum: 0, maximum: Int64(Int32.max)), "Least stake to propose."),
                Field("maxClockDrift", .duration, "Largest accepted clock difference (default 5m)."),
                Field("spaceMinimumLeaves", .integer(minimum: 2, maximum: Int64(1) << 40),
                      "Least plot size, in leaves, a proof of space must show (default 65536)."),
                Field("spaceMinimumRounds", .integer(minimum: 1, maximum: Int64(1) << 32),
                      "Least sequential hashes per plot leaf (default 4096)."),
                Field("spaceDeadline", .duration, "How soon after its challenge block a proof of space must arrive (default 30s)."),
            ])), "Which proofs the mesh demands."),
        ]),
        crossFieldCheck: { context in
            let bootstrap = (0..<(context.spec["bootstrap"]?.arrayValue?.count ?? 0)).map { "bootstrap[\($0)]" }
            let validators = (0..<(context.spec["validators"]?.arrayValue?.count ?? 0)).map { "validators[\($0)].address" }
            for path in ["node.listen"] + bootstrap + validators {
                if let text = context.spec.value(atPath: path)?.stringValue,
                   let port = Int(text.split(separator: ":").last ?? ""), port > 65535
                {
                    context.report(path, "port \(port) is larger than 65535")
                }
            }
            var seen: Set<String> = []
            for (index, validator) in (context.spec["validators"]?.arrayValue ?? []).enumerated() {
                if let id = validator["id"]?.stringValue, !seen.insert(id).inserted {
                    context.report("validators[\(index)].id", "validator \(id.prefix(12))… is listed twice")
                }
            }
        }
    )
}
