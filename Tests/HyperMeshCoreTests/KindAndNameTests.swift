import Foundation
import HyperMeshCore
import Testing

struct KindAndNameTests {
    @Test(arguments: [("pool", Kind.resourcePool), ("Pools", .resourcePool), ("resourcepools", .resourcePool),
                      ("ResourcePool", .resourcePool), ("claims", .claim), ("mirror", .mirrorPolicy), ("CERT", .certificatePolicy),
                      ("certificatepolicies", .certificatePolicy), ("meshes", .mesh), ("Mesh", .mesh)])
    func resolvesWhatUsersType(input: String, kind: Kind) {
        #expect(Kind(userInput: input) == kind)
    }

    @Test func refusesUnknownKinds() {
        #expect(Kind(userInput: "widget") == nil)
    }

    @Test func ordersKeysByDependency() {
        let keys = [ResourceKey(kind: .claim, name: "a"), ResourceKey(kind: .mesh, name: "z"), ResourceKey(kind: .resourcePool, name: "b")]
        #expect(keys.sorted().map(\.kind) == [.mesh, .resourcePool, .claim])
        #expect(keys[0].description == "Claim/a")
    }

    @Test(arguments: ["a", "web-1", "0abc", String(repeating: "a", count: 63)])
    func acceptsDNSLabels(name: String) {
        #expect(ResourceName.problem(with: name) == nil)
    }

    @Test(arguments: ["", "A", "-a", "a-", "a_b", "a.b", String(repeating: "a", count: 64), "é"])
    func refusesOtherNames(name: String) {
        #expect(ResourceName.problem(with: name) != nil)
    }

    @Test func statusKeepsTransitionTimeWhenStatusUnchanged() throws {
        let early = Date(timeIntervalSince1970: 1_000_000)
        var status = ObjectStatus(observedGeneration: 1)
        status.setCondition(Condition(type: "Ready", status: .true, reason: "A", observedGeneration: 1, lastTransitionTime: early))
        status.setCondition(Condition(type: "Ready", status: .true, reason: "B", observedGeneration: 2))
        #expect(status.condition("Ready")?.lastTransitionTime == early)
        #expect(status.condition("Ready")?.reason == "B")
        status.setCondition(Condition(type: "Ready", status: .false, reason: "C", observedGeneration: 2))
        #expect(status.condition("Ready")?.lastTransitionTime != early)
        let decoded = try ObjectStatus(json: status.json)
        #expect(decoded.conditions.map(\.reason) == ["C"])
        #expect(throws: HyperMeshError.corruptData()) { try ObjectStatus(json: "x") }
        #expect(throws: HyperMeshError.corruptData()) { try Condition(json: ["type": "Ready"]) }
    }

    @Test func formatsAges() {
        let now = Date()
        #expect(Timestamp.age(since: now.addingTimeInterval(-30), now: now) == "30s")
        #expect(Timestamp.age(since: now.addingTimeInterval(-600), now: now) == "10m")
        #expect(Timestamp.age(since: now.addingTimeInterval(-36000), now: now) == "10h")
        #expect(Timestamp.age(since: now.addingTimeInterval(-864000), now: now) == "10d")
        let text = Timestamp.format(Date(timeIntervalSince1970: 0))
        #expect(text == "1970-01-01T00:00:00Z")
        #expect(Timestamp.parse(text) == Date(timeIntervalSince1970: 0))
    }

    @Test func errorsCompareByCode() {
        #expect(HyperMeshError.notFound("a") == HyperMeshError.notFound("b"))
        #expect(HyperMeshError.notFound("a") != HyperMeshError.storage("a"))
        #expect(HyperMeshError.io("x", cause: HyperMeshError.corruptData("y")).description.contains("corruptData"))
        #expect(HyperMeshError.invalidArgument("z").description == "invalidArgument: z")
    }
}
