import Dispatch

/// Runs `body` for each index in `0..<count` on as many threads at once (`DispatchQueue.concurrentPerform`)
/// and returns the results in order — for blocking work on independent things, such as one call per
/// peer, where each index touches only its own objects.
public func concurrentMap<T>(_ count: Int, _ body: (Int) -> T) -> [T] {
    guard count > 1 else { return (0..<count).map(body) }
    return withoutActuallyEscaping(body) { body in
        let results = UncheckedResults<T>(count: count, body: body)
        DispatchQueue.concurrentPerform(iterations: count) { results.run($0) }
        return results.values.map { $0! }
    }
}

/// The results of ``concurrentMap(_:_:)``: each slot is written by one thread only, and read after all finish.
private final class UncheckedResults<T>: @unchecked Sendable {
    var values: [T?]
    let body: (Int) -> T

    init(count: Int, body: @escaping (Int) -> T) {
        self.values = [T?](repeating: nil, count: count)
        self.body = body
    }

    func run(_ index: Int) {
        let value = self.body(index)
        self.values.withUnsafeMutableBufferPointer { $0[index] = value }
    }
}
