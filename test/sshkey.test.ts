/**
 * SSH public keys are parsed, not pattern-matched: real keys of every supported type pass
 * (made by ssh-keygen; the sk-* ones built to OpenSSH's PROTOCOL.u2f layout since making
 * them needs a FIDO token), and each way a key line can be wrong is named.
 */
import { describe, expect, it } from "vitest";
import { sshPublicKeyProblem } from "../components/sshkey";
import { parseLabConfig } from "../components/spec";
import { configErrorLines } from "./support/problems";

const ED25519 = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJhgXrxUkVZuyHksrKJ4uXAVsAUyAak5mRMBkGHFMyn0 test@h";
const RSA3072 =
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABgQCbs0ukZrlWr9lI0ImMeLxCZnoXDOLTmTEXPf0wSHD4vHNOM0XXODg+sByKMYThEFPEVAUHgZx2XQ7qWd73qHJKZfq5+O20aKDYt5u1IQ8eMKH7vIY3AcNO6zFYJ6ejg3oQXO1YIPQvQaLlc+zv9WsZvRKSgLYG30gy7m6YTkLDDD0Sch9F7c8C4nTa5mIHHSgpbZ4VOrGPm9TyGal6+ExCx3bEwgM5RA2UKkBCYVb+wmiixxEyv7qmBcLxlN+5XzMSTsKF9xsiXIx3nd67Qd5lO6ReRiuQt3MtXp9RNMP3GwWO67s7IsT1zdr0yxPDaiGmM9BQk0xKHEgOC1YYGMbKBRKZ8NeNLi5lO7slgGKhUIHD2Oli4R+m+/cntxq0y1Am9axqdSQOeca5XWwinGWbrbr5Fp05K+2HokKPz/5vTXoZ/S8OL11WqDsWS9Gm/k5PlQnlpKjtguNMR8hj1LTD8MkCEIub3RB9XGroSCUl9ibJdVmjj6NdZFrpijU2xHk= test@h";
const RSA1024 =
    "ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAAAgQDioXF2vvz9K3arXj4IHBkPw5y4/F5gGFX2A7Ba61gpSfUEJnV1bp/Htc5q7+ViCu6dTx/LAnFXp2QViY2Iyxy/2qFofZAo+Ozfkvh3SXhtfjxxfySsPmP2xSVlrm4WYrhX0NsKLYmd+XoiTwkSo42K38mmNNhIpfRxueC2hMP/hw== test@h";
const P256 =
    "ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBAyI1T2pBi6BopJoy14++6p5QZ5cm2xcYSJ6jWE6nQ/DxEdSBnOOnqBbudUMWuVp8I1kqblg6nTVGNhEB1yxe9s= test@h";
const P384 =
    "ecdsa-sha2-nistp384 AAAAE2VjZHNhLXNoYTItbmlzdHAzODQAAAAIbmlzdHAzODQAAABhBDe9IuJZ/UgDUMH1SMdsYCQGF2e+5p7rW2SgkLFmkiDwAXxqvUEys2VGE62B1QTT8aa+IzK1e64XfatNCiA4Ck7QnT9+II0LEFE7AaBv7hLpvtmNg5U7IbYHK8Odot79eg== test@h";
const P521 =
    "ecdsa-sha2-nistp521 AAAAE2VjZHNhLXNoYTItbmlzdHA1MjEAAAAIbmlzdHA1MjEAAACFBABqAc2ZLCJ0U5Czw+kIMGYS9VMDe82JCb0CWbfBL8qxRfa1qTvhIt8jxorhPZ16iU0aDQbwcfs6fwVRmhrUgNOBYACeCvj8pejWtNw9D70rBpWN1khBf2xe02HfM1ocb2k1eV/1Cqe9eJimKzNfyzFCNIKU5UbAIFo/U46b+B4pk1+oUA== test@h";

function str(b: Buffer | string): Buffer {
    const body = typeof b === "string" ? Buffer.from(b, "latin1") : b;
    const len = Buffer.alloc(4);
    len.writeUInt32BE(body.length);
    return Buffer.concat([len, body]);
}
const line = (type: string, ...parts: (Buffer | string)[]) => `${type} ${Buffer.concat(parts.map(str)).toString("base64")} x@y`;
const point = (n: number) => Buffer.concat([Buffer.from([4]), Buffer.alloc(n - 1, 7)]);

const SK_ED25519 = line("sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519@openssh.com", Buffer.alloc(32, 1), "ssh:");
const SK_P256 = line("sk-ecdsa-sha2-nistp256@openssh.com", "sk-ecdsa-sha2-nistp256@openssh.com", "nistp256", point(65), "ssh:");

describe("sshPublicKeyProblem", () => {
    it("accepts real keys of every supported type, with or without a comment", () => {
        for (const k of [ED25519, RSA3072, RSA1024, P256, P384, P521, SK_ED25519, SK_P256]) {
            expect(sshPublicKeyProblem(k), k).toBeUndefined();
            expect(sshPublicKeyProblem(k.split(" ").slice(0, 2).join(" ")), k).toBeUndefined();
        }
    });

    it("names a key whose type does not match the blob inside", () => {
        expect(sshPublicKeyProblem(ED25519.replace("ssh-ed25519", "ssh-rsa"))).toBe('declares ssh-rsa but the key inside is "ssh-ed25519"; the type and the key must come from the same .pub line');
        expect(sshPublicKeyProblem(P256.replace("nistp256", "nistp384"))).toBe('declares ecdsa-sha2-nistp384 but the key inside is "ecdsa-sha2-nistp256"; the type and the key must come from the same .pub line');
        expect(sshPublicKeyProblem(line("ecdsa-sha2-nistp384", "ecdsa-sha2-nistp384", "nistp256", point(65)))).toMatch(/^declares ecdsa-sha2-nistp384 but its curve is "nistp256"/);
    });

    it("names base64 that does not decode, and blobs cut short or too long", () => {
        expect(sshPublicKeyProblem("ssh-ed25519 AAAA alice")).toMatch(/^the key blob ends inside its key type \(0 bytes announced\)|^the key blob ends before/);
        expect(sshPublicKeyProblem("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJhgXrxUkVZuyHksrKJ4uXAVsAUyAak5mRMBkGHFMyn alice")).toMatch(/^the key "AAAAC3NzaC1lZDI1NTE5A\.\.\." is not valid base64/);
        expect(sshPublicKeyProblem("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJhgXrxUkVZuyHksrKJ4uXAVsAUyAak5mRMB@@@@ alice")).toMatch(/is not valid base64/);
        expect(sshPublicKeyProblem(RSA3072.slice(0, 300))).toMatch(/^the key blob ends inside its modulus/);
        expect(sshPublicKeyProblem(line("ssh-ed25519", "ssh-ed25519", Buffer.alloc(31, 1)))).toMatch(/^the ed25519 key is 31 bytes, not 32/);
        expect(sshPublicKeyProblem(line("ssh-ed25519", "ssh-ed25519", Buffer.alloc(32, 1), "extra"))).toMatch(/^the key blob has 9 bytes after the key/);
        expect(sshPublicKeyProblem(line("ecdsa-sha2-nistp521", "ecdsa-sha2-nistp521", "nistp521", point(97)))).toMatch(/^the nistp521 public point is 97 bytes/);
        expect(sshPublicKeyProblem(line("sk-ssh-ed25519@openssh.com", "sk-ssh-ed25519@openssh.com", Buffer.alloc(32, 1)))).toMatch(/^the key blob ends before its application/);
    });

    it("refuses RSA keys sshd refuses, unknown types and lines that are not keys", () => {
        const rsa768 = line("ssh-rsa", "ssh-rsa", Buffer.from([1, 0, 1]), Buffer.concat([Buffer.from([0, 0xc0]), Buffer.alloc(95, 1)]));
        expect(sshPublicKeyProblem(rsa768)).toBe("the RSA key has 768 bits; sshd refuses RSA keys under 1024 bits: use a 3072-bit RSA or an ed25519 key");
        expect(sshPublicKeyProblem(ED25519.replace("ssh-ed25519", "ssh-dss"))).toMatch(/^key type "ssh-dss" is not one of ssh-ed25519, ssh-rsa, ecdsa-sha2-nistp256/);
        expect(sshPublicKeyProblem("AAAAC3NzaC1lZDI1NTE5AAAAIJhgXrxUkVZuyHksrKJ4uXAVsAUyAak5mRMBkGHFMyn0")).toMatch(/^is not an OpenSSH public key line/);
        expect(sshPublicKeyProblem("-----BEGIN OPENSSH PRIVATE KEY-----")).toMatch(/^key type "-----BEGIN" is not one of/);
    });

    it("is what nixlab:lab.user.sshAuthorizedKeys reports, per key", () => {
        expect(
            configErrorLines(() => parseLabConfig({ owner: "a", user: { sshAuthorizedKeys: [ED25519, ED25519.replace("ssh-ed25519", "ssh-rsa")] }, nodes: { count: 1 } }, "dev")),
        ).toEqual([
            `nixlab:lab.user.sshAuthorizedKeys[1]: declares ssh-rsa but the key inside is "ssh-ed25519"; the type and the key must come from the same .pub line (got "ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIJhgXrxUkVZuyHksrKJ4uXAVsAUyAak5mRMBkGHFMyn0...)`,
        ]);
    });
});
