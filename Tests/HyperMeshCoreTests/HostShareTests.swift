import HyperMeshCore
import Testing

struct HostShareTests {
    @Test(arguments: [("50%", 5000, "50%"), ("12.5%", 1250, "12.5%"), ("12.50%", 1250, "12.5%"), ("0.25%", 25, "0.25%"),
                      ("0.05%", 5, "0.05%"), ("100%", 10_000, "100%"), ("007%", 700, "7%")] as [(String, Int64, String)])
    func parsesPercentagesExactly(text: String, basisPoints: Int64, canonical: String) throws {
        let share = try HostShare(parsing: text)
        #expect(share.basisPoints == basisPoints)
        #expect(share.description == canonical)
        #expect(try HostShare(parsing: canonical) == share)
    }

    @Test func refusesWhatIsNotAShareOfTheHost() {
        #expect(throws: HostShareError.malformed("50")) { try HostShare(parsing: "50") }
        #expect(throws: HostShareError.malformed("%")) { try HostShare(parsing: "%") }
        #expect(throws: HostShareError.malformed("-5%")) { try HostShare(parsing: "-5%") }
        #expect(throws: HostShareError.malformed("5.%")) { try HostShare(parsing: "5.%") }
        #expect(throws: HostShareError.malformed("1e2%")) { try HostShare(parsing: "1e2%") }
        #expect(throws: HostShareError.tooPrecise("1.125%")) { try HostShare(parsing: "1.125%") }
        #expect(throws: HostShareError.zero("0.00%")) { try HostShare(parsing: "0.00%") }
        #expect(throws: HostShareError.outOfRange("100.01%")) { try HostShare(parsing: "100.01%") }
        #expect(throws: HostShareError.outOfRange("99999999999999999999%")) { try HostShare(parsing: "99999999999999999999%") }
        #expect(HostShare(basisPoints: 0) == nil)
        #expect(HostShare(basisPoints: 10_001) == nil)
        #expect(HostShareError.tooPrecise("1.125%").description == "\"1.125%\" has more than two decimals")
    }

    @Test func resolvesAgainstATotalRoundingDown() throws {
        let half = try HostShare(parsing: "50%")
        #expect(half.of(try Quantity(parsing: "3")) == (try Quantity(parsing: "1500m")))
        let third = try HostShare(parsing: "33.33%")
        #expect(third.of(try Quantity(parsing: "1")) == (try Quantity(parsing: "333m")))
        let mebibyte = Quantity(whole: 1 << 20)!
        // 25 % of 24 GiB + 3 bytes is 6 GiB exactly once rounded down to whole MiB.
        #expect(try HostShare(parsing: "25%").of(Quantity(whole: (24 << 30) + 3)!, granularity: mebibyte).description == "6Gi")
        // A tiny share of something still offers one step, not nothing.
        #expect(try HostShare(parsing: "0.01%").of(Quantity(whole: 1 << 20)!, granularity: mebibyte) == mebibyte)
        // No overflow near the largest quantity.
        let largest = Quantity(milliValue: Quantity.maximumWholeValue * 1000)
        #expect(try HostShare(parsing: "100%").of(largest) == largest)
    }
}
