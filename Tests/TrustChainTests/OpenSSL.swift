import Foundation
import HyperMeshTestSupport

/// The real `openssl` binary, which no one here wrote: the judge of every certificate.
enum OpenSSL {
    static func run(_ arguments: [String], input: String? = nil) throws -> ProcessResult {
        try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/openssl"), arguments, standardInput: input)
    }
}
