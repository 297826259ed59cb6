import ArgumentParser
import Foundation
import HyperMeshCore
import Logging
import STOQ

@main
struct HyperMesh: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "hypermesh",
        abstract: "Declare a mesh of shared resources in YAML; hypermesh makes it so and keeps it so.",
        discussion: """
            State lives in an embedded SQLite database in the state directory: --state-dir, else
            $HYPERMESH_STATE_DIR, else /var/lib/hypermesh (root) or ~/.local/state/hypermesh.

            Examples:
              hypermesh validate -f specs/
              hypermesh apply -f specs/ --prune --applyset workstation
              hypermesh diff -f specs/          # exit 0: no change, 2: changes
              hypermesh get pools -o json
              hypermesh describe mesh home
              hypermesh agent --watch /srv/gitops/specs     # reconcile continuously
            """,
        subcommands: [
            ApplyCommand.self, DiffCommand.self, ValidateCommand.self, GetCommand.self, DescribeCommand.self,
            DeleteCommand.self, ReconcileCommand.self, AssetsCommand.self, ExecCommand.self, CACommand.self, STOQCommand.self, AgentCommand.self, ConsensusCommand.self,
            SchemasCommand.self, MirrorCommand.self, MeshCommand.self, ImageCommand.self, LogsCommand.self, AuditCommand.self,
        ]
    )

    /// Exit codes: 0 success, 1 any error (usage errors included), 2 only for `diff` with changes.
    static func main() async {
        LoggingSystem.bootstrap { label in
            var handler = StreamLogHandler.standardError(label: label)
            handler.logLevel = Logger.Level(rawValue: ProcessInfo.processInfo.environment["HYPERMESH_LOG_LEVEL"] ?? "") ?? .warning
            return handler
        }
        let arguments = ArgumentRewriting.rewrite(Array(CommandLine.arguments.dropFirst()))
        do {
            var command = try HyperMesh.parseAsRoot(arguments)
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch let exit as ExitCode {
            Foundation.exit(exit.rawValue)
        } catch let failure as CommandFailure {
            Output.error(failure.message)
            Foundation.exit(1)
        } catch let error as STOQError {
            Output.error(error.message)
            Foundation.exit(1)
        } catch let error as HyperMeshError {
            Output.error(error.message.isEmpty ? error.description : error.message
                + (error.cause.map { " (\($0))" } ?? ""))
            Foundation.exit(1)
        } catch {
            let code = HyperMesh.exitCode(for: error)
            if code == .success {
                HyperMesh.exit(withError: error)  // --help, --version: prints and exits 0
            }
            FileHandle.standardError.write(Data((HyperMesh.fullMessage(for: error) + "\n").utf8))
            if !(error is ValidationError) && code != .validationFailure {
                Foundation.exit(1)
            }
            FileHandle.standardError.write(Data("Run 'hypermesh --help' for usage.\n".utf8))
            Foundation.exit(1)
        }
    }
}

/// A command failed in a way already explained to the user; exit 1 with this message.
struct CommandFailure: Error {
    var message: String
}

/// Argument forms argument-parser does not take directly.
enum ArgumentRewriting {
    static let defaultWait = "5m"

    /// - `--state-dir DIR` before the subcommand moves to the end (before any `--`), where the
    ///   innermost subcommand, which declares it, reads it (`hypermesh --state-dir D ca list`).
    /// - `--wait DURATION` becomes `--wait=DURATION` when the next word reads as a duration, and a bare
    ///   `--wait` becomes `--wait=5m`, so `--wait`, `--wait 60s` and `--wait=60s` all work.
    static func rewrite(_ arguments: [String]) -> [String] {
        var leading: [String] = []
        var rest = arguments[...]
        while let first = rest.first, first.hasPrefix("--state-dir") {
            leading.append(first)
            rest = rest.dropFirst()
            if first == "--state-dir", let value = rest.first {
                leading.append(value)
                rest = rest.dropFirst()
            }
        }
        var rewritten: [String] = []
        var index = rest.startIndex
        while index < rest.endIndex {
            let word = rest[index]
            index += 1
            if word == "--" {
                rewritten += rest[(index - 1)...]
                break
            }
            guard word == "--wait" else {
                rewritten.append(word)
                continue
            }
            if index < rest.endIndex, !rest[index].hasPrefix("-"), (try? TimeSpan(parsing: rest[index])) != nil {
                rewritten.append("--wait=\(rest[index])")
                index += 1
            } else {
                rewritten.append("--wait=\(defaultWait)")
            }
        }
        if !leading.isEmpty {
            rewritten.insert(contentsOf: leading, at: rewritten.firstIndex(of: "--") ?? rewritten.endIndex)
        }
        return rewritten
    }
}
