import Foundation
import HyperMeshCore
import HyperMeshTestSupport
import Testing

/// `Packaging/build-deb.sh` (what `make deb` runs), with the debug binary to keep the test fast: the
/// package is unpacked into a scratch root with `dpkg -x`, its files checked, its unit verified.
struct PackagingTests {
    @Test func theDebianPackageInstallsAVerifiedUnitAndEverythingItNames() throws {
        let directory = try TemporaryDirectory(prefix: "hypermesh-deb")
        defer { directory.remove() }
        let built = try ProcessRunner.run(URL(fileURLWithPath: "/bin/bash"), [
            PackageLayout.root.appendingPathComponent("Packaging/build-deb.sh").path,
            "--binary", PackageLayout.binary.path, "--out", directory.path + "/out", "--fast",
        ])
        #expect(built.status == 0, "\(built.standardError)")
        let package = built.standardOutput.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(package.hasSuffix(".deb"))
        let info = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/dpkg-deb"), ["-f", package, "Package", "Depends"])
        #expect(info.standardOutput.contains("Package: hypermesh") && info.standardOutput.contains("libngtcp2-16"))
        let root = directory.path + "/root"
        #expect(try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/dpkg"), ["-x", package, root]).status == 0)
        for file in [
            "usr/bin/hypermesh", "lib/systemd/system/hypermesh.service", "usr/lib/sysusers.d/hypermesh.conf",
            "usr/lib/tmpfiles.d/hypermesh.conf", "etc/hypermesh/agent.yaml", "usr/share/hypermesh/grafana-dashboard.json",
            "usr/share/bash-completion/completions/hypermesh", "usr/share/zsh/vendor-completions/_hypermesh",
            "usr/share/fish/vendor_completions.d/hypermesh.fish", "usr/share/doc/hypermesh/examples/workstation/mesh.yaml",
            "usr/share/doc/hypermesh/examples/demo/pool.yaml",
        ] {
            #expect(FileManager.default.fileExists(atPath: root + "/" + file), "\(file) missing")
        }
        #expect(FileManager.default.isExecutableFile(atPath: root + "/usr/bin/hypermesh"))
        let unit = try String(contentsOfFile: root + "/lib/systemd/system/hypermesh.service", encoding: .utf8)
        for line in ["Type=notify", "WatchdogSec=30s", "ExecReload=/bin/kill -HUP $MAINPID", "StateDirectory=hypermesh",
                     "RuntimeDirectory=hypermesh", "DynamicUser=no", "User=hypermesh", "ProtectSystem=strict",
                     "ProtectHome=yes", "NoNewPrivileges=yes", "PrivateTmp=yes", "ReadWritePaths=/var/lib/hypermesh"] {
            #expect(unit.contains(line), "unit lacks \(line)")
        }
        #expect(try String(contentsOfFile: root + "/usr/lib/sysusers.d/hypermesh.conf", encoding: .utf8).contains("u hypermesh"))
        let completion = try String(contentsOfFile: root + "/usr/share/bash-completion/completions/hypermesh", encoding: .utf8)
        #expect(completion.contains("agent") && completion.contains("stoq"))

        // The sample configuration is one the agent accepts.
        let check = try ProcessRunner.run(PackageLayout.binary, ["agent", "--config", root + "/etc/hypermesh/agent.yaml",
                                                                 "--check-config"])
        #expect(check.status == 0, "\(check.standardError)")
        #expect(check.standardOutput.contains("watch: /etc/hypermesh/specs"), "\(check.standardOutput)")

        // systemd-analyze verify, inside the scratch root, given the system's targets and /bin/kill.
        guard FileManager.default.isExecutableFile(atPath: "/usr/bin/systemd-analyze") else {
            print("skipped: systemd-analyze verify (no /usr/bin/systemd-analyze)")
            return
        }
        let units = "/lib/systemd/system"
        for name in (try? FileManager.default.contentsOfDirectory(atPath: units)) ?? []
        where name.hasSuffix(".target") || name.hasSuffix(".slice") {
            try? FileManager.default.copyItem(atPath: units + "/" + name, toPath: root + units + "/" + name)
        }
        try FileManager.default.createDirectory(atPath: root + "/bin", withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/kill", toPath: root + "/bin/kill")
        let verify = try ProcessRunner.run(URL(fileURLWithPath: "/usr/bin/systemd-analyze"),
                                           ["verify", "--root=" + root, "/lib/systemd/system/hypermesh.service"])
        #expect(verify.status == 0, "\(verify.standardError)")
        #expect(verify.standardError.isEmpty, "\(verify.standardError)")
    }

    @Test func theGrafanaDashboardQueriesOnlyMetricsTheAgentExports() throws {
        let path = PackageLayout.root.appendingPathComponent("Packaging/grafana-dashboard.json").path
        let dashboard = try JSONValue(parsingJSON: try String(contentsOfFile: path, encoding: .utf8))
        guard case .array(let panels)? = dashboard["panels"] else { Issue.record("no panels"); return }
        #expect(panels.count >= 8)
        let exported = ["hypermesh_objects", "hypermesh_workqueue_depth", "hypermesh_reconciles_total",
                        "hypermesh_reconcile_duration_seconds_bucket", "hypermesh_applies_total",
                        "process_resident_memory_bytes", "process_cpu_seconds_total", "process_open_fds"]
        var used: Set<String> = []
        for panel in panels {
            guard case .array(let targets)? = panel["targets"] else { continue }
            for target in targets {
                let expression = target["expr"]?.stringValue ?? ""
                let names = expression.split(whereSeparator: { !($0.isLetter || $0.isNumber || $0 == "_") })
                    .map(String.init).filter { $0.hasPrefix("hypermesh_") || $0.hasPrefix("process_") }
                for name in names {
                    #expect(exported.contains(name), "\(name) is not a metric the agent exports")
                    used.insert(name)
                }
            }
        }
        #expect(used == Set(exported))
    }
}
