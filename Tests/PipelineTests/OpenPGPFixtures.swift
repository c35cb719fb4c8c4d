@testable import Pipeline

/// Keys and signatures made by GnuPG 2.2.40 (`gpg --batch --passphrase '' --quick-gen-key ...`,
/// `--export-secret-keys --armor`, `--detach-sign`) for the OpenPGP reader tests. Throwaway keys:
/// they protect nothing.
enum OpenPGPFixtures {
    /// Ed25519, primary signs and certifies ("SC"), no expiry.
    static let ed25519Secret = """
        -----BEGIN PGP PRIVATE KEY BLOCK-----

        lFgEaxLzpRYJKwYBBAHaRw8BAQdAJjMCmUWY1W5E0WSNiXKUTXKSn9z9fOWKdTAT
        nUBy3ekAAP49+nPh8ZAgzrHkR6+F7sPqtuJWXDyXCkkGHNHtzoX2BBNAtCVGaXh0
        dXJlIEVkMjU1MTkgPGVkMjU1MTlAZXhhbXBsZS5jb20+iJAEExYIADgWIQRBocBg
        TDp2EtOJWYPmaR31/KBY9AUCaxLzpQIbAwULCQgHAgYVCgkICwIEFgIDAQIeAQIX
        gAAKCRDmaR31/KBY9IXTAP47GsFJr9cdJ1AdO98VV3WLR2sjGbnZyKfp0FjPykKb
        ugD/UfBcYbdLt8xb2Qly8zc98qMOlqSMhizA+OIQtT+9qQE=
        =dCuk
        -----END PGP PRIVATE KEY BLOCK-----
        """
    static let ed25519Fingerprint = "41A1C0604C3A7612D3895983E6691DF5FCA058F4"

    /// RSA 3072, primary signs and certifies.
    static let rsa3072Secret = """
        -----BEGIN PGP PRIVATE KEY BLOCK-----

        lQVXBGsS89IBDAC8kjFBLPoALrH/lHklmXPuL3FoEGobbGLxCoSt+bc6Bf1xUdJA
        oNbytL0g00x40hAgxEF1Nj+UmEBVZ1iDaXIuuYlqcof0/puaRnmhnwyxLNan7Y5U
        W4wwwC/mFN9IQ/mamdEmSwqrVsBSQlc/Fw+ZxHvvnLWnFwDJnFzzEBlRy6sQ1QZm
        ZJEAebjSEexiCLrEDnk3lVYr0so1Zv6hCc6u3vqGHR5NTGWLp7ZsB+7r+CCTDrVp
        BZQaAU6zTB08gZBrqDl3ux6TUDEa4L83X2jLAIyIlbyc19uUBpnyAx74MVH4NtvU
        kDTezfNf7REdfJObMR8nlNYhMIgUUZw3rsKbCnKCnQA2uJ2RdU4G1wdFtw3HwGpu
        EDq4caCk7dPn+htU+BCK6jMV2qeIKJzF7BZtvDassU8WcwC/5yeZz0oermP33Z07
        +MzSARaAlQfJ7jguZOs/cVacijNUYbUTYTQPz4I1GuTGnrXonu+W87m24VJ+Y1VU
        KvAyQgDqJ72TL7kAEQEAAQAL+Lveq/xB/V09O863QK4z6pOZYSC/VscuUy/GuNFO
        qquGHlpOEQNeoISpRxGEDS/jOuNgpAH7QuuK3Jc089nvV0qsSMuTTWDKJ5rHxRbV
        QN+WGKIWT9e0eqtHmUWZARCyUYQVHkACcpsnIWi19azAIri6PNgFI57HrgJkVgF3
        3lLTt73xjPmkZeXrhiLJcpCeprMfZkI8yy0HHv0OISF94XpQdUDirBK6DgI6up20
        LLcUvj2eZjkw6iZVcf609I2kiw00ZwxdmqQRGhzL7svmqyKdZfdaVDYlvvyOihWr
        0AwJ2/zcSVMSFEWHtDHqbuImBh0bgDlQDZ5A4qRooTHRZHLQTZZ3WDCTxlCDYWJc
        GMYugIwz+Y389MPOIn1q6B8GiT+fxSIAgG09nDCcUFR6yToDoh4zn3JFKPOkPE90
        /hU+ztZT7qnen+aTSpaOkIPtMK36hxqeo+QZKZGNMVnghkyo2LfpR1M5s+nDRfIm
        IT/5hXYIPpd/sLjgjWMcBcQdBgDL6gsfn1rfHqeO7xc91CP88XMInXz2tm1m0yGx
        HZTLbYdHJGmPPmECebAPQ19hhAE7NxDMJlCfOf3TBcndyM3l/kNzJZ7UeKQMzs2F
        3Sl2z8F0ktpjmNZrgLfQSAMU5OofWBiu4SByNW8rtQG313lUHeee9xOuyRgVEEVu
        qPfzu+Rr9WUVesenrwvhCj5b86bXcYyKk3XlGoMHz698t2aOIzgGu0+LEUnJh383
        Wx3LuVRStc46GDStCn7t0ED/q20GAOy829s+6rR7MwTC/Wt5+cAHwYDYLdR1NSby
        IFadl8pGd+uS2Io/BPNDKa3U6QDFf7pCkYyp5y3YSHIix6Wait1liWnVaNv7Wba8
        mK+/rLWe/qDrzlqGv85owqiGvOoyym6ftUVk6k50mjGg/eZ5rurX0UuaU25JKnoX
        20pLTR+MnKz0eylusHt5Ev7W2se2Kl78dd2GiCWNwY39gypG5oC3aBkTDW/O2CR1
        CbWECFTlZkatWFeoMoS337DrZfm5/QYA5/LR3HyfvlpDh2ba9gL4B6Kw7IQQsNKy
        YWRxjC0yhLE40RNQKdgltwmbMFX0Dnk31I0BOwYReQkuOAGLvk+1ddbeL49aGweQ
        wu4fKTTch+sjbYAEm+TatAH17N/nwyiCPk4wTRGqAKSifUZyfD1AOP8WXsw07WZM
        2yZ7ldc/CjY74mRw6+MWEPCoLyDxrGOIwjwewELj730hEuQ9alFTtLCE5o4Ppli4
        DB+OEYUwygA6RgpxXm+RFpfbw1IzVfIL3Eu0JkZpeHR1cmUgUlNBIDMwNzIgPHJz
        YTMwNzJAZXhhbXBsZS5jb20+iQHOBBMBCgA4FiEEzrY6QbAReyJqz2lvaWwLGmdk
        PjUFAmsS89ICGwMFCwkIBwIGFQoJCAsCBBYCAwECHgECF4AACgkQaWwLGmdkPjVe
        xgv/ZOHsEzhtOWot0HdL4aN1VDy3wCG0s6OCjX/r7Jhg40mxCFmGZtpC7Veb2igr
        ZwnpI7uW4CxcIjbie6VrCx5u3XD6tSXXGe48o/o4Lvph1bqBFV2dA7hblLvnxe5p
        0cgUqLSnGR5Vx5ef3l3Ub2Rse6VHtGZrSMM69zGoBbbC3yGmZiOl8a66khQqTqE7
        SqiKi8DCEs7Y/2o/Ci46aOXPndw8qDoHZ8x6t9NnoMlc70br27BTXgzyVLDQxmnM
        k4J0IG5bRPGDzaw9cgJ9FafW50vkM6M0OKld6SM/0EDko0B2KiMIJN96Ugwg01OO
        Djk/3QmltVpxSZ01tVMUDKB81S4WTT7YQZKythbddOV/cKK9fDMbKMcofgbE6LAQ
        FQyGm9Qv1vwkci68xUPUGp2y/usZ2zGEQu0fxABv/MSF3TKsAykJP9XEJFQN6yMy
        TEX5m/AEZOmOMB7+TdoNP5pjXKcroAHCsmzrxYQOQghBS0NGzxX1n9Q8TsedkyFe
        LmFP
        =0CCT
        -----END PGP PRIVATE KEY BLOCK-----
        """
    static let rsa3072Fingerprint = "CEB63A41B0117B226ACF696F696C0B1A67643E35"

    /// RSA 2048: too small to sign with here.
    static let rsa2048Secret = """
        -----BEGIN PGP PRIVATE KEY BLOCK-----

        lQOYBGsS86UBCADN4RUDc7HDc0EkhJZeghTVKLhhSeQkviSap2A1VW5KcmqdM8mQ
        f0d38ZK+bgKK3VlTs275vFMFGhT020gxk1zNb5NbGswWj9bVCevKIamP5+SgDOvC
        d0nZC0/8+bhUZk1OpL3eP9zjP0nRy9NAWIvxba0079kd6d2YHNTOnDOnvDx3kIAd
        VNQcfUnZimrinS95yNS0JD/aqhRaWgcKkK9VElcrl4krUp2m/CU3c9MtT+2Ilctv
        tNcYyRIg7HK2vCzjbGkBHgjQWJmYGhyytzrvlXKAZwOFfAJvpF+2Ztyqyc8GleUH
        zVwqt6lP7ruuVq4m8xXN8kj/yKZANg0yr+alABEBAAEAB/4xf9V6j/2EfZiC/DHf
        JS13FqRGF+r3fpP0bxutlw2+boX9p+7lhASd7QIYMQEBfDi27CRZfRME3gF94Z8Y
        9FJSvmnSdL3vCsRfUlRTtAY9qEaKyLCCgAXMXnDr5OqRuEsMBoX0AqzMInJQM85l
        4SQ8dt83JBeynoD9yqjLyDiPMj8PzsNtXBUbPAf7BNN6837R8ImXXzl9SR7vT3Ka
        9NGTHDALGlFgX8DUjkJNuEJbhlmna3W2KsJHceur2nYW7kivuuM8OtSJBdhk1n85
        bJDmCr6m6rM/+T5nYekKvHMDMl8UnRnm/mkSIZk0aYatCuj2fAHdmezWy8Drofn8
        +uMdBADSJQCS2CO0xmRPLxJnmM0345V3uTSIWOZLRYGF+p7R1ROV8Bu7NxH+/gpc
        zAwUxMt/XXtH2blwWggy70uJBkYIyAoxip9EO/zXRCt0sWPB9KTbsHOxqWQwGOiv
        KKQPYcqs8MXwBTXuG9Dq90Dci/NlIozX9Cn4jPXWQ+ysLZFOiwQA+s3QGQEokaz/
        yw/mf7Wkdkm81aVy8a2e/89JhJTNxcfoN9QyeaN0ioJKwJrvIG2sGhyHRIF8vAVf
        8R4hXE3BpVmAfCLOn91AXD0K1+bhOF+Py8QVqaVuVFXJJr0DxtdHhi6BIr5Aq9X2
        PMtvMLMzqnmamWQo0BI+Qb0rcUBO9Y8D/A79t4CYkDkTONENgfhywLin2sFVSl7k
        xYCNQBgGAQbIamZG/aGUDFaaUIxkjRc3az3CBIoEm2RFwe4OhwPGAOSxwzlUejeQ
        8aaV5xTQD5Kaf+RsWC5dTpZvCeACksUcMAeAsXs89aKwrgpltS1luul2qh7c1Rxk
        wWJchaSj2uSBQ8y0JkZpeHR1cmUgUlNBIDIwNDggPHJzYTIwNDhAZXhhbXBsZS5j
        b20+iQFOBBMBCgA4FiEE4CiIbvSp1jgMTBn8XFhWhI43LbQFAmsS86UCGwMFCwkI
        BwIGFQoJCAsCBBYCAwECHgECF4AACgkQXFhWhI43LbRDwAgAieqVksUsWZjI1gd2
        estLf88dKjKg/fwJbC4C6Z5nIKNR+oCPc2N1qedoXnkvxuPUtxHi9wuc/9QZV+rX
        Tk1btMauOe8YL25jju0Dt1i1WJIUepQ+rDNf9r/1UOS2hkmiXr++6qFI3vhBqkOE
        Ai0lT0eSOJ2s8KusXmpOKEGFJXp6yAB7nWf3F2TNDWSv52Cv+F/+ih7VLU8UbY+S
        RMb1tFaCo7wd3ofAQBgamslHBl52q+4CpQmBIeG1ltxlm0R4Lfq3CY9twI8tQ5ZO
        PEH+N16YTp+C1mPIF8617hGtUdCwnQHVEC8WdqULYLCcGwM63fPpVCYvyAuQmBWP
        02ZvLA==
        =FxDF
        -----END PGP PRIVATE KEY BLOCK-----
        """
    /// Ed25519 protected with the passphrase "secret".
    static let protectedSecret = """
        -----BEGIN PGP PRIVATE KEY BLOCK-----

        lIYEaxLzpRYJKwYBBAHaRw8BAQdAtHVWs+w0qV/Dn9tO9LH28ybp+l5C9AHdUaYh
        zNsAMxH+BwMCQj+X0xirTK7//NtIRV2TNxf3U7Irq8AmL/ZMXOtXAMWLDEKN4eQU
        4XS3IeJiuRsQIS02hrlnK/HavcBk9P+72tJhub5aHvu7+ISJJwnBobQpRml4dHVy
        ZSBwcm90ZWN0ZWQgPHByb3RlY3RlZEBleGFtcGxlLmNvbT6IkAQTFggAOBYhBPfV
        bU9CLfD4mdjPZnZExkwjNJsXBQJrEvOlAhsDBQsJCAcCBhUKCQgLAgQWAgMBAh4B
        AheAAAoJEHZExkwjNJsX/oQA/R8/nSww9oycP6HGIQCF9o7zPv/TIhgDYV8aATht
        XKeNAP4m0670u2DayB0Zolve645MuvksjW9upbf5Nfdfc/6ZDg==
        =w027
        -----END PGP PRIVATE KEY BLOCK-----
        """
    /// A certify-only Ed25519 primary, an Ed25519 signing subkey and a Curve25519 encryption subkey.
    static let subkeySecret = """
        -----BEGIN PGP PRIVATE KEY BLOCK-----

        lFgEaxLzqhYJKwYBBAHaRw8BAQdAdroc4R1xlPwwCpUP1hni8VhrDs3up1eVa4mq
        cXKiff4AAQC/GtnFq8aYCeLvwaVeY1l9Ux5ojWZbKR3ZLtlRkZvVbxBmtCNGaXh0
        dXJlIHN1YmtleSA8c3Via2V5QGV4YW1wbGUuY29tPoiQBBMWCAA4FiEEIxfQZv7z
        MDljHEu9EJH5ukdtUzsFAmsS86oCGwEFCwkIBwIGFQoJCAsCBBYCAwECHgECF4AA
        CgkQEJH5ukdtUzsZGwD8D3Lq8msbEUqkml7boUFVpQhTagM8jgPunEckiA6wPrwB
        ALKuauk6xwHodT4VL2apWENPADrdIF0Bb0HlLjB8Fr4InFgEaxLzqhYJKwYBBAHa
        Rw8BAQdAJZb1f3dYcWptJ1FdtN2ri0l2ly2ebnPNf2zQwvZ3tmEAAP9y/qiuG4KC
        Fvf87rddLrQBSTfCQjY5wb7LP8q2+3HLoxKoiO8EGBYIACAWIQQjF9Bm/vMwOWMc
        S70Qkfm6R21TOwUCaxLzqgIbAgCBCRAQkfm6R21TO3YgBBkWCAAdFiEE/sgP49Bb
        Es97jwzG0jD02MQ3BkAFAmsS86oACgkQ0jD02MQ3BkDjKgD9GnKWPR37U8bq6xF3
        4P6qg628dkD9kt/5GsJkZpNrsesBAOCsaJ0WpQTHImMv8/hVN1TN/IKFx3bZf8CH
        NDIGcEAKv6oA/Ank8gkgcV3OmEFhxt3hlClkxge5UZ/w9U622Uxw0VFSAP4stV89
        iW9y3U+2MgR9vorunZv1qOa/YkG6hYZfnC/5BZxdBGsS86oSCisGAQQBl1UBBQEB
        B0A/EuMWODX9Qa34vzJr85OftuIS/WE+flSFI9M/oDF0SQMBCAcAAP9XVDn/Xzq1
        SlXF1VndFTNdb+NF4XfI+Zv4XCAxVs5TqBFTiHgEGBYIACAWIQQjF9Bm/vMwOWMc
        S70Qkfm6R21TOwUCaxLzqgIbDAAKCRAQkfm6R21TOwTzAQCLAhnqD4aRm9li6LHq
        ZGjsDd2mXCkdP7APWnanKXpkXAD/Y5mV08cID218CEOQOeQgJCj8zv5S4DFjFa04
        9fQWAwQ=
        =TwwH
        -----END PGP PRIVATE KEY BLOCK-----
        """
    static let subkeyPrimaryFingerprint = "2317D066FEF33039631C4BBD1091F9BA476D533B"
    static let subkeySigningFingerprint = "FEC80FE3D05B12CF7B8F0CC6D230F4D8C4370640"

    /// The bytes the two signatures below cover.
    static let data = Array("Origin: Example\nLabel: Example\n".utf8)

    /// `gpg --local-user ed25519@example.com --detach-sign --armor` of `data`.
    static let dataSignatureEd25519 = """
        -----BEGIN PGP SIGNATURE-----

        iIoEABYIADIWIQRBocBgTDp2EtOJWYPmaR31/KBY9AUCaxLzrBQcZWQyNTUxOUBl
        eGFtcGxlLmNvbQAKCRDmaR31/KBY9McxAQCspx8Uv3caAclgjoXSlCRT8hVFiLRY
        yCxZ/wYCsJalnQEAir6A/8xYkpHbUMmIie/JqsOq/5EjfH9oqa0Qxu+VmQ0=
        =fNdf
        -----END PGP SIGNATURE-----
        """
    /// `gpg --local-user subkey@example.com --detach-sign` of `data` (binary; made by the signing subkey).
    static let dataSignatureSubkey = Base64.decode("iIkEABYIADEWIQT+yA/j0FsSz3uPDMbSMPTYxDcGQAUCaxLzrBMcc3Via2V5QGV4YW1wbGUuY29tAAoJENIw9NjENwZAfzEA/ieNbmOGPR+Q9J+H9Hvlbwyc0H+AgxHq3cgYmp8z04kbAPsHTnC8X80zcg3zBP3skEU9SwWK+lWSNWfUHNh3bTAADg==")!
}
