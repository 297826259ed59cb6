import Foundation

/// The directory a server serves files from, and the rules that keep requests inside it.
struct ServedRoot {
    let directory: URL

    /// The file for a request path like `/a/b.bin`: no empty, `.` or `..` components and no hidden names,
    /// so a request can never leave the directory or reach the blob store.
    func resolve(_ requestPath: String) throws -> String {
        let trimmed = requestPath.hasPrefix("/") ? String(requestPath.dropFirst()) : requestPath
        let components = trimmed.split(separator: "/", omittingEmptySubsequences: false)
        guard !trimmed.isEmpty, components.allSatisfy({ !$0.isEmpty && !$0.hasPrefix(".") }) else {
            throw STOQError.notFound("\(requestPath): not a servable path")
        }
        return self.directory.appendingPathComponent(components.joined(separator: "/")).path
    }
}
