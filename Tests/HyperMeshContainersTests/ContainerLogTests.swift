import Foundation
import HyperMeshContainers
import Testing

struct ContainerLogTests {
    @Test func parsesTheShimsLinesAndRefusesOthers() throws {
        let line = try #require(ContainerLogLine("2026-12-07T15:26:30.008238619Z stdout hi there"))
        #expect(line.stream == "stdout")
        #expect(line.text == "hi there")
        #expect(abs(line.time.timeIntervalSince1970 - 1_796_657_190.008238619) < 0.000_01)
        #expect(ContainerLogLine("2026-12-07T15:26:30.008Z stderr ")?.text == "")
        for bad in ["", "hello", "2026-12-07T15:26:30Z stdin x", "2026-13-07X15:26:30.1Z stdout x", "2026-12-07T15:26:30.1 stdout x"] {
            #expect(ContainerLogLine(Substring(bad)) == nil, "\(bad)")
        }
    }

    @Test func readsRotatedFilesInOrderWithSinceAndTail() throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("hm-log-\(UUID().uuidString)").path
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        try "2026-12-07T10:00:00.000000000Z stdout one\n2026-12-07T10:00:01.000000000Z stderr two\n"
            .write(toFile: directory + "/output.log.1", atomically: true, encoding: .utf8)
        try "torn line\n2026-12-07T10:00:02.000000000Z stdout three\n".write(toFile: directory + "/output.log", atomically: true, encoding: .utf8)
        let files = [directory + "/output.log.1", directory + "/output.log"]
        #expect(ContainerLogLine.read(files).map(\.text) == ["one", "two", "three"])
        let since = try #require(ContainerLogLine("2026-12-07T10:00:01.000000000Z stdout x")).time
        #expect(ContainerLogLine.read(files, since: since).map(\.text) == ["two", "three"])
        #expect(ContainerLogLine.read(files, tail: 1).map(\.text) == ["three"])
        #expect(ContainerLogLine.read(files, tail: 0).isEmpty)
    }
}
