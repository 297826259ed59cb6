import Foundation

/// What a finished process printed and how it exited.
public struct ProcessResult: Sendable {
    public var status: Int32
    public var standardOutput: String
    public var standardError: String

    public init(status: Int32, standardOutput: String, standardError: String) {
        self.status = status
        self.standardOutput = standardOutput
        self.standardError = standardError
    }
}

/// Runs programs for tests, capturing output.
public enum ProcessRunner {
    /// Runs `executable` with `arguments` to completion.
    public static func run(_ executable: URL, _ arguments: [String], environment: [String: String] = [:],
                           standardInput: String? = nil) throws -> ProcessResult
    {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        merged.removeValue(forKey: "HYPERMESH_STATE_DIR")
        for (name, value) in environment { merged[name] = value }
        process.environment = merged
        let outputPipe = Pipe()
        let errorPipe = Pipe()
        process.standardOutput = outputPipe
        process.standardError = errorPipe
        let inputPipe = Pipe()
        process.standardInput = standardInput == nil ? FileHandle.nullDevice : inputPipe
        try process.run()
        if let standardInput {
            inputPipe.fileHandleForWriting.write(Data(standardInput.utf8))
            try inputPipe.fileHandleForWriting.close()
        }
        // Read both pipes concurrently so a full pipe cannot block the child.
        let errorData = LockedData()
        let reader = Thread { errorData.set(errorPipe.fileHandleForReading.readDataToEndOfFile()) }
        reader.start()
        let output = outputPipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        while !errorData.isSet { usleep(1000) }
        return ProcessResult(status: process.terminationStatus, standardOutput: String(decoding: output, as: UTF8.self),
                             standardError: String(decoding: errorData.value, as: UTF8.self))
    }

    /// Runs the built `hypermesh` with `--state-dir` set to `stateDirectory`, given first as a user would.
    public static func hypermesh(_ arguments: [String], stateDirectory: String, standardInput: String? = nil) throws -> ProcessResult {
        precondition(!arguments.isEmpty, "a subcommand is needed")
        return try run(PackageLayout.binary, ["--state-dir", stateDirectory] + arguments, standardInput: standardInput)
    }
}

final class LockedData: @unchecked Sendable {
    private let lock = NSLock()
    private var data: Data?

    func set(_ data: Data) {
        self.lock.lock()
        self.data = data
        self.lock.unlock()
    }

    var isSet: Bool {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.data != nil
    }

    var value: Data {
        self.lock.lock()
        defer { self.lock.unlock() }
        return self.data ?? Data()
    }
}
