import Foundation
import HyperMeshContainers
import HyperMeshCore
import Testing

struct BundleConfigurationTests {
    static let configuration = BundleConfiguration(
        arguments: ["/bin/sh", "-c", "echo hi"], environment: ["PATH=/bin", "A=1"], workingDirectory: "/data", userID: 1000,
        groupID: 100, hostname: "web-0", readOnlyRoot: true, cgroupsPath: "/hypermesh/pool/claim/hm-web-0",
        mounts: [.init(source: "/srv/claim", destination: "/data", readOnly: true)], hostNetwork: false,
        annotations: ["hypermesh.workload": "web"])

    @Test func isCrunsDefaultWithOurProcessCgroupAndSeccomp() throws {
        let json = Self.configuration.json
        #expect(json["process"]?["args"] == ["/bin/sh", "-c", "echo hi"])
        #expect(json["process"]?["user"]?["uid"]?.integerValue == 1000 && json["process"]?["user"]?["gid"]?.integerValue == 100)
        #expect(json["process"]?["noNewPrivileges"] == true && json["process"]?["terminal"] == false)
        #expect(json["process"]?["capabilities"]?["bounding"] == ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"])
        #expect(json["root"]?["readonly"] == true)
        #expect(json["linux"]?["cgroupsPath"]?.stringValue == "/hypermesh/pool/claim/hm-web-0")
        let namespaces = json["linux"]?["namespaces"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
        #expect(Set(namespaces) == ["pid", "ipc", "uts", "mount", "network"])
        #expect(json["linux"]?["seccomp"]?["defaultAction"]?.stringValue == "SCMP_ACT_ALLOW")
        let refused = json["linux"]?["seccomp"]?["syscalls"]?[0]?["names"]?.arrayValue?.compactMap(\.stringValue) ?? []
        #expect(refused.contains("kexec_load") && refused.contains("mount") && refused.contains("bpf"))
        let bind = json["mounts"]?.arrayValue?.first { $0["destination"]?.stringValue == "/data" }
        #expect(bind?["source"]?.stringValue == "/srv/claim")
        #expect(bind?["options"]?.arrayValue?.contains("ro") == true)
        #expect(json["annotations"]?["hypermesh.workload"]?.stringValue == "web")
        // It round-trips through the JSON crun reads.
        #expect(try JSONValue(parsingJSON: json.canonicalJSON) == json)
    }

    @Test func hostNetworkKeepsTheHostsNamespace() {
        var configuration = Self.configuration
        configuration.hostNetwork = true
        let namespaces = configuration.json["linux"]?["namespaces"]?.arrayValue?.compactMap { $0["type"]?.stringValue } ?? []
        #expect(!namespaces.contains("network"))
    }
}
