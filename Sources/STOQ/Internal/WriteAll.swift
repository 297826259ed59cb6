import Foundation

extension Array where Element == UInt8 {
    /// Writes every byte to `descriptor` (retrying short writes), then empties the array, keeping its
    /// capacity for the next batch. `path` names the file in the error.
    mutating func drain(to descriptor: Int32, path: String) throws {
        try self.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let written = Glibc.write(descriptor, raw.baseAddress! + offset, raw.count - offset)
                if written < 0 && errno == EINTR { continue }
                guard written > 0 else { throw STOQError.io("\(path): \(String(cString: strerror(errno)))") }
                offset += written
            }
        }
        self.removeAll(keepingCapacity: true)
    }
}
