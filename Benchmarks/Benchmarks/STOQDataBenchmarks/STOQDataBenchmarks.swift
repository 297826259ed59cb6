import Benchmark
import Crypto
import Foundation
import STOQData

/// 256 MiB of pseudo-random bytes, the same for every run (and for the Python peer).
func sampleData() -> [UInt8] {
    var state: UInt64 = 42
    var bytes = [UInt8](repeating: 0, count: 256 << 20)
    bytes.withUnsafeMutableBytes { buffer in
        let words = buffer.bindMemory(to: UInt64.self)
        for index in words.indices {
            state &+= 0x9E37_79B9_7F4A_7C15
            var z = state
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words[index] = z ^ (z >> 31)
        }
    }
    return bytes
}

let benchmarks: @Sendable () -> Void = {
    Benchmark.defaultConfiguration = .init(metrics: [.wallClock, .throughput], maxDuration: .seconds(20), maxIterations: 10)
    let data = sampleData()

    // Compare with Benchmarks/peers/pyfastcdc_throughput.py (Cython FastCDC 2020), run in the same session.
    Benchmark("FastCDC: cut 256 MiB at 64 KiB average") { benchmark in
        let chunker = try FastCDC()
        benchmark.startMeasurement()
        let cuts = chunker.chunks(of: data)
        benchmark.stopMeasurement()
        blackHole(cuts)
    }

    // Compare with Benchmarks/peers/zfec_throughput.py (zfec 10+4), run in the same session.
    let shardLength = 1 << 20
    let stripes = (0..<(data.count / (10 * shardLength))).map { stripe in
        (0..<10).map { shard in Array(data[(stripe * 10 + shard) * shardLength..<(stripe * 10 + shard + 1) * shardLength]) }
    }
    Benchmark("Reed–Solomon 10+4 encode, \(stripes.count * 10) MiB of data (ISA-L)") { benchmark in
        let coder = try ReedSolomon(dataShards: 10, parityShards: 4)
        benchmark.startMeasurement()
        for stripe in stripes { blackHole(coder.encode(stripe)) }
        benchmark.stopMeasurement()
    }

    Benchmark("Reed–Solomon 10+4 decode with 4 data shards lost, \(stripes.count * 10) MiB (ISA-L)") { benchmark in
        let coder = try ReedSolomon(dataShards: 10, parityShards: 4)
        let damaged = stripes.map { stripe -> [[UInt8]?] in
            var shards: [[UInt8]?] = stripe + coder.encode(stripe)
            for index in [0, 3, 5, 9] { shards[index] = nil }
            return shards
        }
        benchmark.startMeasurement()
        for shards in damaged { blackHole(try coder.reconstruct(shards)) }
        benchmark.stopMeasurement()
    }

    Benchmark("SHA-256 of 256 MiB (swift-crypto)") { benchmark in
        blackHole(data.withUnsafeBytes { SHA256.hash(data: $0) })
    }

    Benchmark("FastCDC + SHA-256 per chunk over 256 MiB (a manifest)") { benchmark in
        let chunker = try FastCDC()
        benchmark.startMeasurement()
        blackHole(FileManifest(bytes: data, chunker: chunker))
        benchmark.stopMeasurement()
    }
}
