import Foundation

/// A long-running child (a server, an agent) that a test starts, talks to, and stops.
public final class BackgroundProcess: @unchecked Sendable {
    public let process = Process()
    private let output = Pipe()
    private let errors = LockedData()
    private let partialErrors = LockedData()
    private let errorPipe = Pipe()

    /// Starts `executable` with `arguments`; stdout is read with ``readLine()``, stderr is collected.
    public init(_ executable: URL, _ arguments: [String], environment: [String: String] = [:]) throws {
        self.process.executableURL = executable
        self.process.arguments = arguments
        var merged = ProcessInfo.processInfo.environment
        for (name, value) in environment { merged[name] = value }
        self.process.environment = merged
        self.process.standardOutput = self.output
        self.process.standardError = self.errorPipe
        self.process.standardInput = FileHandle.nullDevice
        try self.process.run()
        let errorPipe = self.errorPipe
        let errors = self.errors
        let partial = self.partialErrors
        Thread {
            var collected = Data()
            while case let chunk = errorPipe.fileHandleForReading.availableData, !chunk.isEmpty {
                collected.append(chunk)
                partial.set(collected)
            }
            errors.set(collected)
        }.start()
    }

    /// The next line of stdout, without its newline; `nil` at end of file.
    public func readLine() -> String? {
        var line: [UInt8] = []
        while let data = try? self.output.fileHandleForReading.read(upToCount: 1), let byte = data.first {
            if byte == UInt8(ascii: "\n") { return String(decoding: line, as: UTF8.self) }
            line.append(byte)
        }
        return line.isEmpty ? nil : String(decoding: line, as: UTF8.self)
    }

    /// Waits up to `timeout` seconds for it to exit by itself; returns the exit status, or `nil` while it runs.
    public func wait(timeout: TimeInterval) -> Int32? {
        let deadline = Date().addingTimeInterval(timeout)
        while self.process.isRunning && Date() < deadline { usleep(10_000) }
        return self.process.isRunning ? nil : self.process.terminationStatus
    }

    /// Sends `signal` and waits up to `timeout` seconds; returns the exit status, or `nil` if it had to be killed.
    @discardableResult
    public func stop(signal: Int32 = SIGTERM, timeout: TimeInterval = 10) -> Int32? {
        guard self.process.isRunning else { return self.process.terminationStatus }
        kill(self.process.processIdentifier, signal)
        let deadline = Date().addingTimeInterval(timeout)
        while self.process.isRunning && Date() < deadline { usleep(10_000) }
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
            return nil
        }
        return self.process.terminationStatus
    }

    /// What the process wrote to stderr (complete once it has exited).
    public var standardError: String {
        let deadline = Date().addingTimeInterval(5)
        while !self.errors.isSet && !self.process.isRunning && Date() < deadline { usleep(1000) }
        return String(decoding: self.errors.value, as: UTF8.self)
    }

    /// What the process has written to stderr so far (while it runs).
    public var standardErrorSoFar: String { String(decoding: self.partialErrors.value, as: UTF8.self) }

    deinit {
        if self.process.isRunning {
            kill(self.process.processIdentifier, SIGKILL)
            self.process.waitUntilExit()
        }
    }
}
