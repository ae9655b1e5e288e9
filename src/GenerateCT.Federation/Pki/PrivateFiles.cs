using System.Text;

namespace GenerateCT.Federation.Pki;

/// <summary>
/// Writes PKI files atomically (temp file, fsync, rename) with their mode set before any byte is
/// written, so a private key is never readable by others, not even for a moment.
/// </summary>
internal static class PrivateFiles
{
    /// <summary>Owner read/write only: private keys, PKCS#12, the CA's records.</summary>
    public const UnixFileMode Private = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    /// <summary>World-readable: certificates and revocation lists (no secrets).</summary>
    public const UnixFileMode Public = Private | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Owner only: the CA directory and kits.</summary>
    public const UnixFileMode PrivateDirectory = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute;

    public static void Write(string path, string text, UnixFileMode mode) => Write(path, Encoding.UTF8.GetBytes(text), mode);

    public static void Write(string path, ReadOnlySpan<byte> bytes, UnixFileMode mode)
    {
        var tmp = path + ".tmp";
        using (var fs = new FileStream(tmp, new FileStreamOptions { Mode = FileMode.Create, Access = FileAccess.Write, Share = FileShare.None, UnixCreateMode = mode }))
        {
            // UnixCreateMode applies only when the file is new (and is masked by umask): set it exactly.
            File.SetUnixFileMode(tmp, mode);
            fs.Write(bytes);
            fs.Flush(flushToDisk: true);
        }

        File.Move(tmp, path, overwrite: true);
    }

    public static void CreateDirectory(string path)
    {
        Directory.CreateDirectory(path, PrivateDirectory);
        File.SetUnixFileMode(path, PrivateDirectory);
    }
}
