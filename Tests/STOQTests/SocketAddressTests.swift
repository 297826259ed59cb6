import Testing
@testable import STOQ

struct SocketAddressTests {
    @Test func parsesIPv4IPv6AndDefaults() throws {
        #expect(try SocketAddress(parsing: "127.0.0.1:9393").description == "127.0.0.1:9393")
        #expect(try SocketAddress(parsing: "[::1]:80").description == "[::1]:80")
        #expect(try SocketAddress(parsing: "::1").port == STOQDefaults.port)
        #expect(try SocketAddress(parsing: "10.0.0.2").description == "10.0.0.2:9292")
        #expect(try SocketAddress(parsing: "localhost:1").host == "127.0.0.1")
        #expect(try SocketAddress(parsing: "127.0.0.1:1") == SocketAddress(host: "127.0.0.1", port: 1))
    }

    @Test(arguments: ["example.org:1", "127.0.0.1:99999", "127.0.0.1:x", "[::1", "[::1]x", "1.2.3"])
    func rejectsWhatIsNotAnAddress(_ text: String) {
        #expect(throws: STOQError.invalidAddress()) { try SocketAddress(parsing: text) }
    }
}
