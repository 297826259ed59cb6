import CFastCDC
import HyperMeshCore

/// Content-defined chunking, FastCDC 2020: a gear rolling hash with normalized chunking
/// (a harder mask before the average size, an easier one after), two bytes per step.
/// Boundaries depend only on content, so an insertion changes only the chunks around it.
public struct FastCDC: Sendable, Hashable {
    public static let minimumSizeRange = 64...(1 << 20)
    public static let averageSizeRange = 256...(4 << 20)
    public static let maximumSizeRange = 1024...(16 << 20)

    public let minimumSize: Int
    public let averageSize: Int
    public let maximumSize: Int
    /// 0 (off) to 3; the reference default is 1.
    public let normalization: Int
    let maskSmall: UInt64
    let maskLarge: UInt64

    /// - Throws: ``HyperMeshError`` `invalidArgument` for sizes outside the ranges or out of order.
    public init(minimumSize: Int = 16 << 10, averageSize: Int = 64 << 10, maximumSize: Int = 256 << 10, normalization: Int = 1) throws {
        var problems: [String] = []
        if !Self.minimumSizeRange.contains(minimumSize) { problems.append("minimum size \(minimumSize) is outside \(Self.minimumSizeRange)") }
        if !Self.averageSizeRange.contains(averageSize) { problems.append("average size \(averageSize) is outside \(Self.averageSizeRange)") }
        if !Self.maximumSizeRange.contains(maximumSize) { problems.append("maximum size \(maximumSize) is outside \(Self.maximumSizeRange)") }
        if !(minimumSize <= averageSize && averageSize <= maximumSize) { problems.append("sizes must satisfy minimum <= average <= maximum") }
        if !(0...3).contains(normalization) { problems.append("normalization \(normalization) is outside 0...3") }
        guard problems.isEmpty else { throw HyperMeshError.invalidArgument("FastCDC: " + problems.joined(separator: "; ")) }
        self.minimumSize = minimumSize
        self.averageSize = averageSize
        self.maximumSize = maximumSize
        self.normalization = normalization
        // log2 rounded to nearest, as the reference implementations compute it.
        let bits = Int((log2(Double(averageSize)) + 0.5).rounded(.down))
        self.maskSmall = FastCDCTables.masks[bits + normalization]
        self.maskLarge = FastCDCTables.masks[bits - normalization]
    }

    /// The length of the first chunk of `bytes` (all of it when it is no longer than the minimum).
    public func cut(_ bytes: UnsafeRawBufferPointer) -> Int {
        var remaining = bytes.count
        if remaining <= self.minimumSize { return remaining }
        var center = self.averageSize
        if remaining > self.maximumSize {
            remaining = self.maximumSize
        } else if remaining < center {
            center = remaining
        }
        // The loop is the whole cost of chunking: CFastCDC runs it (x86-64 assembly; see fastcdc.c for why).
        return FastCDCTables.gear.withUnsafeBufferPointer { gear in
            FastCDCTables.gearShifted.withUnsafeBufferPointer { gearShifted in
                hm_fastcdc_cut(bytes.baseAddress!.assumingMemoryBound(to: UInt8.self), (self.minimumSize / 2) * 2, (center / 2) * 2,
                               (remaining / 2) * 2, remaining, self.maskSmall, self.maskLarge, gear.baseAddress!, gearShifted.baseAddress!)
            }
        }
    }

    /// The chunk boundaries of `bytes`: (offset, length) pairs covering it exactly.
    public func chunks(of bytes: UnsafeRawBufferPointer) -> [(offset: Int, length: Int)] {
        var result: [(offset: Int, length: Int)] = []
        result.reserveCapacity(bytes.count / self.averageSize + 1)
        var offset = 0
        while offset < bytes.count {
            let length = self.cut(UnsafeRawBufferPointer(rebasing: bytes[offset...]))
            precondition(length > 0, "a cut always advances")
            result.append((offset, length))
            offset += length
        }
        return result
    }

    /// The chunk boundaries of `bytes`.
    public func chunks(of bytes: [UInt8]) -> [(offset: Int, length: Int)] {
        bytes.withUnsafeBytes { self.chunks(of: $0) }
    }
}

import Foundation
