import Foundation
import HyperMeshTestSupport
import Logging
import Testing
@testable import HyperMeshAgent

struct JournalEntryTests {
    @Test func encodesPlainAndBinaryFieldsAndDecodesThemBack() throws {
        let entry = JournalEntry(fields: [("MESSAGE", "two\nlines"), ("PRIORITY", "6"), ("EMPTY", "")])
        let bytes = entry.encoded
        #expect(Array(bytes[0..<8]) == [UInt8]("MESSAGE\n".utf8))
        #expect(Array(bytes[8..<16]) == [9, 0, 0, 0, 0, 0, 0, 0])
        #expect(JournalEntry.decode(bytes) == entry)
        #expect(JournalEntry.decode([UInt8]("NOEND".utf8)) == nil)
        #expect(JournalEntry.decode([UInt8]("M\n".utf8) + [200, 0, 0, 0, 0, 0, 0, 0] + [UInt8]("x\n".utf8)) == nil)
    }

    @Test func metadataKeysBecomeJournalFieldNames() {
        #expect(JournalEntry.fieldName("object") == "OBJECT")
        #expect(JournalEntry.fieldName("peer.node") == "PEER_NODE")
        #expect(JournalEntry.fieldName("_x") == "X")
        #expect(JournalEntry.fieldName("1a") == "F1A")
    }

    @Test func theHandlerWritesStructuredEntriesToTheJournalSocket() throws {
        let directory = try TemporaryDirectory(prefix: "journal")
        defer { directory.remove() }
        let path = directory.path + "/socket"
        let receiver = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(receiver) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: path.utf8) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(receiver, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        #expect(bound == 0)
        let logger = Logger(label: "test") { JournalLogHandler(label: $0, socketPath: path, logLevel: .debug) }
        logger.warning("Reconcile failed", metadata: ["object": "Claim/web", "generation": "3", "reason": "NoCapacity"])
        var buffer = [UInt8](repeating: 0, count: 65_536)
        let count = recv(receiver, &buffer, buffer.count, 0)
        let entry = try #require(JournalEntry.decode(Array(buffer[0..<max(count, 0)])))
        #expect(entry["MESSAGE"] == "Reconcile failed")
        #expect(entry["PRIORITY"] == "4")
        #expect(entry["HYPERMESH_OBJECT"] == "Claim/web")
        #expect(entry["HYPERMESH_GENERATION"] == "3")
        #expect(entry["HYPERMESH_REASON"] == "NoCapacity")
        #expect(entry["CODE_FILE"]?.hasSuffix("JournalEntryTests.swift") == true)
        #expect(entry["CODE_LINE"].flatMap(Int.init) != nil)
        #expect(entry["CODE_FUNC"]?.isEmpty == false)
    }

    @Test func stderrIsTheJournalOnlyWhenJournalStreamMatches() {
        #expect(!JournalLogHandler.stderrIsJournal(environment: [:]))
        #expect(!JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "1:2"]))
        var status = stat()
        fstat(STDERR_FILENO, &status)
        #expect(JournalLogHandler.stderrIsJournal(environment: ["JOURNAL_STREAM": "\(status.st_dev):\(status.st_ino)"]))
    }
}
