import Foundation
import HyperMeshCore
import Testing

struct TimeSpanTests {
    @Test(arguments: [("90s", 90_000), ("15m", 900_000), ("24h", 86_400_000), ("1h30m", 5_400_000), ("250ms", 250),
                      ("1.5h", 5_400_000), ("0s", 0), ("1m30s500ms", 90_500)] as [(String, Int64)])
    func parsesExactly(text: String, milliseconds: Int64) throws {
        #expect(try TimeSpan(parsing: text).milliseconds == milliseconds)
    }

    @Test(arguments: [("90s", "1m30s"), ("1h30m", "1h30m"), ("24h", "24h"), ("0s", "0s"), ("1500ms", "1s500ms")])
    func printsCanonicalForm(text: String, canonical: String) throws {
        let span = try TimeSpan(parsing: text)
        #expect(span.description == canonical)
        #expect(try TimeSpan(parsing: canonical) == span)
    }

    @Test func refusesMalformedText() {
        #expect(throws: TimeSpanError.malformed("")) { try TimeSpan(parsing: "") }
        #expect(throws: TimeSpanError.missingUnit("90")) { try TimeSpan(parsing: "90") }
        #expect(throws: TimeSpanError.unknownUnit("3d", unit: "d")) { try TimeSpan(parsing: "3d") }
        #expect(throws: TimeSpanError.malformed("h")) { try TimeSpan(parsing: "h") }
        #expect(throws: TimeSpanError.malformed("1..5s")) { try TimeSpan(parsing: "1..5s") }
        #expect(throws: TimeSpanError.tooPrecise("0.0001s")) { try TimeSpan(parsing: "0.0001s") }
        #expect(throws: TimeSpanError.outOfRange("9999999999999999h")) { try TimeSpan(parsing: "9999999999999999h") }
        #expect(throws: TimeSpanError.outOfRange("999999999999999h")) { try TimeSpan(parsing: "999999999999999h") }
        for error in [TimeSpanError.malformed("x"), .missingUnit("1"), .unknownUnit("1d", unit: "d"), .tooPrecise("y"), .outOfRange("z")] {
            #expect(!error.description.isEmpty)
        }
    }

    @Test func convertsAndCompares() throws {
        let span = try TimeSpan(parsing: "1m30s")
        #expect(span.duration == .seconds(90))
        #expect(span.timeInterval == 90)
        #expect(TimeSpan.minutes(1) < span && span < TimeSpan.hours(1))
        #expect(TimeSpan.seconds(90) == span)
        let data = try JSONEncoder().encode([span])
        #expect(try JSONDecoder().decode([TimeSpan].self, from: data) == [span])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([TimeSpan].self, from: Data("[\"5\"]".utf8)) }
    }
}
