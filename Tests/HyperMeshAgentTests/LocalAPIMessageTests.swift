import HyperMeshCore
import Testing
@testable import HyperMeshAgent

struct LocalAPIMessageTests {
    @Test func requestsRoundTrip() throws {
        let request = LocalAPIMessage.Request(operation: .wait, keys: [ResourceKey(kind: .claim, name: "web")], timeout: .seconds(2))
        #expect(try LocalAPIMessage.parseRequest(request.json.canonicalJSON) == request)
        #expect(try LocalAPIMessage.parseRequest(#"{"apiVersion":1,"op":"wake"}"#).keys == nil)
        let removal = LocalAPIMessage.Request(operation: .waitRemoved, keys: [ResourceKey(kind: .resourcePool, name: "p")],
                                              timeout: .milliseconds(1500))
        #expect(removal.json["timeoutMilliseconds"] == 1500)
        #expect(try LocalAPIMessage.parseRequest(removal.json.canonicalJSON) == removal)
    }

    @Test(arguments: [
        ("not json", "request is not JSON"),
        ("[1]", "must be a JSON object"),
        (#"{"op":"wake"}"#, "no apiVersion"),
        (#"{"apiVersion":2,"op":"wake"}"#, "apiVersion 2 is not supported"),
        (#"{"apiVersion":1,"op":"explode"}"#, "op must be one of"),
        (#"{"apiVersion":1,"op":"wake","keys":"Claim/x"}"#, "keys must be an array"),
        (#"{"apiVersion":1,"op":"wake","keys":["Nope/x"]}"#, "is not \"Kind/name\""),
        (#"{"apiVersion":1,"op":"wait","keys":["Claim/x"]}"#, "timeoutMilliseconds"),
        (#"{"apiVersion":1,"op":"wait","timeoutMilliseconds":5}"#, "wait needs keys"),
        (#"{"apiVersion":1,"op":"waitRemoved","keys":["Claim/x"],"timeoutMilliseconds":-1}"#, "waitRemoved needs timeoutMilliseconds"),
        (#"{"apiVersion":1,"op":"waitRemoved","timeoutMilliseconds":5}"#, "waitRemoved needs keys"),
    ])
    func badRequestsAreExplained(_ line: String, _ message: String) {
        do {
            _ = try LocalAPIMessage.parseRequest(line)
            Issue.record("accepted \(line)")
        } catch {
            #expect(error.message.contains(message), "\(error.message)")
        }
    }
}
