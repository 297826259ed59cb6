import HyperMeshCore
import Testing

struct QuantityTests {
    @Test(arguments: [
        ("500m", 500), ("2", 2000), ("1.5", 1500), ("4Gi", 4 * 1_073_741_824 * 1000), ("200G", 200_000_000_000 * 1000),
        ("1Ki", 1_024_000), ("0.5Ki", 512_000), ("1k", 1_000_000), ("+3", 3000), ("-2", -2000), ("1.25Mi", 1_310_720_000),
    ] as [(String, Int64)])
    func parsesKubernetesFormsExactly(text: String, milli: Int64) throws {
        #expect(try Quantity(parsing: text).milliValue == milli)
    }

    @Test(arguments: [("500m", "500m"), ("2", "2"), ("1.5", "1500m"), ("4096Mi", "4Gi"), ("200G", "200G"),
                      ("1024", "1Ki"), ("1000", "1k"), ("0", "0"), ("1536Mi", "1536Mi"), ("1.5Gi", "1536Mi")])
    func printsCanonicalForm(text: String, canonical: String) throws {
        let quantity = try Quantity(parsing: text)
        #expect(quantity.description == canonical)
        #expect(try Quantity(parsing: canonical) == quantity)
    }

    @Test func comparesAndAddsExactly() throws {
        let a = try Quantity(parsing: "4Gi")
        let b = try Quantity(parsing: "4096Mi")
        #expect(a == b)
        #expect(try Quantity(parsing: "0.1") < Quantity(parsing: "101m"))
        #expect(a.adding(try Quantity(parsing: "1Gi")) == (try Quantity(parsing: "5Gi")))
        #expect(a.subtracting(try Quantity(parsing: "1Gi")) == (try Quantity(parsing: "3Gi")))
        #expect(Quantity(milliValue: .max).adding(Quantity(milliValue: 1)) == nil)
        #expect(Quantity(milliValue: .min).subtracting(Quantity(milliValue: 1)) == nil)
        #expect(Quantity(whole: .max) == nil)
        #expect(try Quantity(parsing: "1500m").isWhole == false)
        #expect(try Quantity(parsing: "3").wholeValue == 3)
    }

    @Test func refusesMalformedText() {
        #expect(throws: QuantityError.malformed("")) { try Quantity(parsing: "") }
        #expect(throws: QuantityError.malformed("Gi")) { try Quantity(parsing: "Gi") }
        #expect(throws: QuantityError.malformed("1..5")) { try Quantity(parsing: "1..5") }
        #expect(throws: QuantityError.malformed("1.")) { try Quantity(parsing: "1.") }
        #expect(throws: QuantityError.unknownSuffix("4GB", suffix: "GB")) { try Quantity(parsing: "4GB") }
        #expect(throws: QuantityError.tooPrecise("0.0001")) { try Quantity(parsing: "0.0001") }
        #expect(throws: QuantityError.tooPrecise("0.5m")) { try Quantity(parsing: "0.5m") }
        #expect(throws: QuantityError.outOfRange("16Ei")) { try Quantity(parsing: "16Ei") }
        #expect(throws: QuantityError.outOfRange("9999999999999999999")) { try Quantity(parsing: "9999999999999999999") }
        for error in [QuantityError.malformed("x"), .unknownSuffix("1x", suffix: "x"), .tooPrecise("y"), .outOfRange("z")] {
            #expect(!error.description.isEmpty)
        }
    }

    @Test func codableUsesCanonicalText() throws {
        let data = try JSONEncoder().encode([try Quantity(parsing: "2048Mi")])
        #expect(String(decoding: data, as: UTF8.self) == "[\"2Gi\"]")
        #expect(try JSONDecoder().decode([Quantity].self, from: data) == [try Quantity(parsing: "2Gi")])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([Quantity].self, from: Data("[\"2 Gi\"]".utf8)) }
    }
}

import Foundation
