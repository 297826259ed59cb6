import Foundation
import HyperMeshCore

/// A program run to its end with `posix_spawn` and `waitpid`: Foundation's `Process.waitUntilExit()` costs about
/// 50 ms on Linux, more than crun's whole start.
enum ChildProcess {
    struct Outcome {
        var status: Int32
        var standardOutput: String
        var standardError: String
    }

    /// Runs `path` with `arguments`, its stdin `/dev/null`, and collects stdout and stderr (each read to its end).
    static func run(_ path: String, _ arguments: [String]) throws -> Outcome {
        var outputPipe: [Int32] = [-1, -1]
        var errorPipe: [Int32] = [-1, -1]
        guard pipe(&outputPipe) == 0, pipe(&errorPipe) == 0 else { throw HyperMeshError.io("cannot make a pipe: \(errnoText())") }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, outputPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, errorPipe[1], 2)
        for fd in outputPipe + errorPipe { posix_spawn_file_actions_addclose(&actions, fd) }
        let pid = try self.spawn(path, arguments, actions: &actions)
        close(outputPipe[1])
        close(errorPipe[1])
        // Read both pipes at once (a child filling stderr while we wait on stdout would block forever).
        let errorReader = Thread.detachedRead(errorPipe[0])
        let output = readAll(outputPipe[0])
        let errors = errorReader.wait()
        close(outputPipe[0])
        close(errorPipe[0])
        return Outcome(status: try self.wait(pid), standardOutput: output, standardError: errors)
    }

    /// Starts `path` detached from our stdio (all three on `/dev/null`) and waits for it to exit: for programs that
    /// daemonize themselves, as the shim does.
    static func runDetaching(_ path: String, _ arguments: [String]) throws -> Int32 {
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0)
        let pid = try self.spawn(path, arguments, actions: &actions)
        return try self.wait(pid)
    }

    private static func spawn(_ path: String, _ arguments: [String], actions: inout posix_spawn_file_actions_t) throws -> pid_t {
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child starts with default signal handling and nothing blocked, whatever the agent's runtime set.
        var none = sigset_t()
        sigemptyset(&none)
        posix_spawnattr_setsigmask(&attributes, &none)
        var defaults = sigset_t()
        sigfillset(&defaults)
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))
        var pid: pid_t = 0
        let argv = ([path] + arguments).map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        let result = posix_spawn(&pid, path, &actions, &attributes, argv, environ)
        guard result == 0 else { throw HyperMeshError.io("cannot run \(path): \(String(cString: strerror(result)))") }
        return pid
    }

    private static func wait(_ pid: pid_t) throws -> Int32 {
        var status: Int32 = 0
        while waitpid(pid, &status, 0) < 0 {
            guard errno == EINTR else { throw HyperMeshError.io("waitpid \(pid): \(errnoText())") }
        }
        // WIFEXITED / WEXITSTATUS / WTERMSIG, which Swift does not import.
        if status & 0x7f == 0 { return (status >> 8) & 0xff }
        return 128 + (status & 0x7f)
    }
}

func errnoText() -> String { String(cString: strerror(errno)) }

func readAll(_ fd: Int32) -> String {
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 16384)
    while true {
        let count = read(fd, &buffer, buffer.count)
        if count < 0 && errno == EINTR { continue }
        if count <= 0 { break }
        data.append(buffer, count: count)
    }
    return String(decoding: data, as: UTF8.self)
}

extension Thread {
    /// A pipe read to its end on a thread of its own.
    final class PendingRead: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        fileprivate var text = ""
        fileprivate func finish() { self.done.signal() }
        func wait() -> String {
            self.done.wait()
            return self.text
        }
    }

    static func detachedRead(_ fd: Int32) -> PendingRead {
        let pending = PendingRead()
        Thread.detachNewThread {
            pending.text = readAll(fd)
            pending.finish()
        }
        return pending
    }
}
