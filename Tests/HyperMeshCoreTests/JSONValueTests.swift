import Foundation
import HyperMeshCore
import Testing

struct JSONValueTests {
    @Test func canonicalJSONSortsKeysAndRoundTrips() throws {
        let value: JSONValue = ["b": [1, "two", true, .null], "a": ["z": "q\"uote\\\n\t\u{01}é"], "c": [:], "d": []]
        let text = value.canonicalJSON
        #expect(text == #"{"a":{"z":"q\"uote\\\n\t\u0001é"},"b":[1,"two",true,null],"c":{},"d":[]}"#)
        #expect(try JSONValue(parsingJSON: text) == value)
        #expect(try JSONValue(parsingJSON: value.prettyJSON()) == value)
        #expect(try JSONValue(parsingJSON: #" { "s" : "\/\b\f\r\u00e9\ud83d\ude00" , "n" : -5 } "#)
            == ["s": "/\u{08}\u{0C}\ré😀", "n": -5])
    }

    @Test(arguments: ["", "{", "[1,", "[1 2]", "{\"a\" 1}", "{\"a\":1,}", "tru", "\"abc", "\"\\x\"", "\"\\u12\"",
                      "\"\\ud800\\u0041\"", "1.5", "{1:2}", "[] []", "-", "\"\\"])
    func refusesInvalidJSONWithCorruptData(text: String) {
        #expect(throws: HyperMeshError.corruptData()) { try JSONValue(parsingJSON: text) }
    }

    @Test func refusesDeepNesting() {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: HyperMeshError.corruptData()) { try JSONValue(parsingJSON: deep) }
    }

    @Test func readsPathsAndAccessors() {
        let value: JSONValue = ["spec": ["cpu": ["cores": "4"], "list": [["id": "x"], ["id": "y"]], "n": 3, "f": false]]
        #expect(value.value(atPath: "spec.cpu.cores") == "4")
        #expect(value.value(atPath: "spec.list[1].id") == "y")
        #expect(value.value(atPath: "spec.list[7].id") == nil)
        #expect(value.value(atPath: "spec.n")?.integerValue == 3)
        #expect(value.value(atPath: "spec.f")?.boolValue == false)
        #expect(value.value(atPath: "spec.missing.deeper") == nil)
        #expect(value.value(atPath: "spec.cpu.cores.more") == nil)  // through a string
        #expect(value.value(atPath: "spec..cpu.cores") == "4")  // empty components are skipped, as with indexes
        #expect(value.value(atPath: "") == value)
        #expect(value.value(atPath: "spec.list")?.arrayValue?.count == 2)
        #expect(value["spec"]?.objectValue?.count == 4)
        #expect(JSONValue.string("x").displayText == "x")
        #expect(JSONValue.integer(3).displayText == "3")
        #expect(JSONValue.integer(3)["x"] == nil && JSONValue.integer(3).stringValue == nil)
    }
}
