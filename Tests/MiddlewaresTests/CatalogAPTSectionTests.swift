import Foundation
import Pipeline
import Testing
@testable import Middlewares

/// The catalog's APT section without sockets: Debian's version order and how a package's
/// control fields are shown.
@Suite("catalog APT section parts")
struct CatalogAPTSectionTests {
    @Test("versions sort as dpkg sorts them: epochs, ~ before everything, numbers by value, revisions last")
    func debianOrder() {
        let ascending = ["0.9", "1.0~~", "1.0~beta1", "1.0~rc1", "1.0", "1.0-0.1", "1.0-1", "1.0-1+b1", "1.0-2", "1.0a", "1.0+dfsg", "1.2.0~rc1",
                         "1.9", "1.10.0", "2", "1:0.1", "2:0.0.1"]
        for (lower, higher) in zip(ascending, ascending.dropFirst()) {
            #expect(DebianVersion.compare(lower, higher) < 0, "\(lower) < \(higher)")
            #expect(DebianVersion.compare(higher, lower) > 0, "\(higher) > \(lower)")
        }
        #expect(DebianVersion.compare("1.0", "1.00") == 0, "leading zeros do not count")
        #expect(DebianVersion.compare("0:1.0", "1.0") == 0, "epoch 0 is no epoch")
        #expect(DebianVersion.compare("1.0-1", "1.0-1") == 0)
    }

    @Test("the description's synopsis and paragraphs, sizes, and the client file name from the Origin")
    func fields() throws {
        let control = try ControlStanza(parsing: """
            Package: tool
            Version: 1.0
            Architecture: amd64
            Description: does things <well>
             First paragraph,
             continued.
             .
             Second one.

            """)
        let package = APTPackage(control: control, size: 1, sha256: "", component: "main", location: "", label: "", time: 0)
        #expect(APTSection.summary(package) == "does things <well>")
        #expect(APTSection.longDescription(package) == ["First paragraph, continued.", "Second one."])
        #expect(APTSection.size(812) == "812\u{00A0}B")
        #expect(APTSection.size(1536) == "1.5\u{00A0}KiB")
        #expect(APTSection.size(12 * 1024 * 1024) == "12.0\u{00A0}MiB")
        #expect(APTSection.fileName("gateway") == "gateway")
        #expect(APTSection.fileName("Acme Packages") == "acme-packages")
        #expect(APTSection.fileName("../etc/x") == "etc-x", "no path leaves the folder")
        #expect(APTSection.fileName("!!!") == "gateway")
    }
}

@Suite("catalog: release days")
struct CatalogDateTests {
    @Test("a modification time is its UTC day, leap days and times before 1970 included")
    func days() {
        #expect(CatalogDate.day(0) == "1970-01-01")
        #expect(CatalogDate.day(86_399) == "1970-01-01")
        #expect(CatalogDate.day(-1) == "1969-12-31")
        #expect(CatalogDate.day(951_782_400) == "2000-02-29")
        #expect(CatalogDate.day(1_798_761_599) == "2026-12-31")
        #expect(CatalogDate.day(iso: "2024-05-01T10:00:00Z") == "2024-05-01")
        #expect(CatalogDate.day(iso: "2024") == nil)
    }
}
