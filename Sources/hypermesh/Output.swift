import ArgumentParser
import Foundation
import HyperMeshCommands
import HyperMeshSpec

/// Where commands print: results on stdout, problems on stderr.
enum Output {
    static func print(_ text: String) {
        FileHandle.standardOutput.write(Data(text.utf8))
    }

    static func line(_ text: String) {
        self.print(text + "\n")
    }

    static func error(_ message: String) {
        FileHandle.standardError.write(Data("error: \(message)\n".utf8))
    }

    static func warning(_ message: String) {
        FileHandle.standardError.write(Data("warning: \(message)\n".utf8))
    }

    /// Lists every spec problem, then a count.
    static func report(_ failure: SpecValidationFailure) {
        var text = failure.diagnostics.map { $0.description + "\n" }.joined()
        let count = failure.diagnostics.count
        text += "\(count) error\(count == 1 ? "" : "s"); nothing was changed\n"
        FileHandle.standardError.write(Data(text.utf8))
    }
}

extension SpecLoading {
    /// Loads specs; on problems lists every one on stderr and exits 1.
    static func loadReportingProblems(paths: [String]) throws -> [SpecDocument] {
        do {
            return try self.load(paths: paths)
        } catch let failure as SpecValidationFailure {
            Output.report(failure)
            throw ExitCode(1)
        }
    }
}
