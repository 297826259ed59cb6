@testable import HyperMeshContainers
import Foundation
import Testing

struct RuntimeNamespaceTests {
    static let hybrid = """
        tmpfs /sys/fs/cgroup tmpfs rw,relatime,mode=755 0 0
        cgroup /sys/fs/cgroup/cpu cgroup rw,relatime,cpu 0 0
        cgroup /sys/fs/cgroup/cpu,cpuacct cgroup rw,nosuid,nodev,noexec,relatime,cpu,cpuacct 0 0
        cgroup /sys/fs/cgroup/memory cgroup rw,relatime,memory 0 0
        cgroup /sys/fs/cgroup/systemd cgroup rw,relatime,name=systemd 0 0
        cgroup2 /sys/fs/cgroup/unified cgroup2 rw,relatime 0 0
        """

    @Test func isNeededOnlyOnHybridHosts() {
        #expect(RuntimeNamespace.isNeeded(mountsText: Self.hybrid))
        #expect(!RuntimeNamespace.isNeeded(mountsText: "cgroup2 /sys/fs/cgroup cgroup2 rw,nosuid 0 0\n"))
        #expect(!RuntimeNamespace.isNeeded(mountsText: "cgroup /sys/fs/cgroup/cpu cgroup rw,cpu 0 0\ncgroup /sys/fs/cgroup/memory cgroup rw,memory 0 0\n"))
        #expect(!RuntimeNamespace.isNeeded(mountsText: ""))
    }

    @Test func mirrorsTheHostsV1MountsAndOnlyThose() {
        let mounts = RuntimeNamespace.v1Mounts(mountsText: Self.hybrid)
        #expect(mounts.map(\.point) == ["/sys/fs/cgroup/cpu", "/sys/fs/cgroup/cpu,cpuacct", "/sys/fs/cgroup/memory", "/sys/fs/cgroup/systemd"])
        #expect(mounts.map(\.options) == ["cpu", "cpu,cpuacct", "memory", "none,name=systemd"])
    }

    @Test func replicaFilesAreNamedAfterTheWorkloadAndIndex() {
        let runtime = ContainerRuntime(stateDirectory: URL(fileURLWithPath: "/var/lib/hypermesh"), mountsText: Self.hybrid)
        let replica = runtime.replica(workload: "web", index: 3)
        #expect(replica.containerID == "hm-web-3")
        #expect(replica.directory == "/var/lib/hypermesh/workloads/web/3")
        #expect(replica.rootfs == "/var/lib/hypermesh/workloads/web/3/bundle/rootfs")
        #expect(runtime.crunInvocation(["list"]).path == "/usr/bin/nsenter")
        #expect(runtime.crunInvocation(["list"]).arguments.prefix(2) == ["--mount=/var/lib/hypermesh/runtime/ns/mnt", "--"])
        let plain = ContainerRuntime(stateDirectory: URL(fileURLWithPath: "/s"), mountsText: "cgroup2 /sys/fs/cgroup cgroup2 rw 0 0\n")
        #expect(plain.crunInvocation(["list"]) == ("/usr/bin/crun", ["--root", "/s/runtime/crun", "list"]))
    }
}
