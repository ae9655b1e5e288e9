namespace GenerateCT.Dicom.Network;

/// <summary>A DIMSE status (PS3.7 Annex C) with the optional Error Comment (0000,0902, ≤ 64 chars).</summary>
public readonly record struct DicomStatus(ushort Code, string? ErrorComment = null)
{
    public static DicomStatus Success { get; } = new(0x0000);

    /// <summary>Refused: out of resources (PS3.4 §B.2.3).</summary>
    public static DicomStatus OutOfResources(string comment) => new(0xA700, comment);

    /// <summary>Error: data set does not match SOP class (PS3.4 §B.2.3).</summary>
    public static DicomStatus DatasetDoesNotMatchSopClass(string comment) => new(0xA900, comment);

    /// <summary>Error: cannot understand (PS3.4 §B.2.3).</summary>
    public static DicomStatus CannotUnderstand(string comment) => new(0xC000, comment);

    /// <summary>Refused: SOP class not supported (PS3.7 §C.5.7).</summary>
    public static DicomStatus SopClassNotSupported(string comment) => new(0x0122, comment);

    public bool IsSuccess => Code == 0x0000;

    /// <summary>Warnings (0001, Bxxx) still mean the instance was stored.</summary>
    public bool IsWarning => Code == 0x0001 || (Code & 0xF000) == 0xB000;

    public bool IsFailure => !IsSuccess && !IsWarning && Code != 0xFF00 && Code != 0xFF01;

    public override string ToString() => $"0x{Code:X4}{(ErrorComment is null ? string.Empty : $" ({ErrorComment})")}";
}

/// <summary>DIMSE command sets (PS3.7 §9.3.1, §9.3.5).</summary>
internal static class DimseCommands
{
    public const ushort CStoreRequest = 0x0001;
    public const ushort CStoreResponse = 0x8001;
    public const ushort CEchoRequest = 0x0030;
    public const ushort CEchoResponse = 0x8030;
    public const ushort NoDataset = 0x0101;

    public static DicomDataset EchoRequest(ushort messageId)
    {
        var c = new DicomDataset();
        c.SetString(DicomTag.AffectedSOPClassUID, DicomUid.Verification);
        c.SetInt(DicomTag.CommandField, CEchoRequest);
        c.SetInt(DicomTag.MessageID, messageId);
        c.SetInt(DicomTag.CommandDataSetType, NoDataset);
        return c;
    }

    public static DicomDataset StoreRequest(ushort messageId, string sopClass, string sopInstance)
    {
        var c = new DicomDataset();
        c.SetString(DicomTag.AffectedSOPClassUID, sopClass);
        c.SetInt(DicomTag.CommandField, CStoreRequest);
        c.SetInt(DicomTag.MessageID, messageId);
        c.SetInt(DicomTag.Priority, 0);
        c.SetInt(DicomTag.CommandDataSetType, 0x0000);
        c.SetString(DicomTag.AffectedSOPInstanceUID, sopInstance);
        return c;
    }

    public static DicomDataset Response(DicomDataset request, ushort field, DicomStatus status)
    {
        var c = new DicomDataset();
        if (request.GetString(DicomTag.AffectedSOPClassUID) is { } cls)
        {
            c.SetString(DicomTag.AffectedSOPClassUID, cls);
        }

        c.SetInt(DicomTag.CommandField, field);
        c.SetInt(DicomTag.MessageIDBeingRespondedTo, request.GetInt32(DicomTag.MessageID));
        c.SetInt(DicomTag.CommandDataSetType, NoDataset);
        c.SetInt(DicomTag.Status, status.Code);
        if (request.GetString(DicomTag.AffectedSOPInstanceUID) is { } inst)
        {
            c.SetString(DicomTag.AffectedSOPInstanceUID, inst);
        }

        if (!string.IsNullOrEmpty(status.ErrorComment))
        {
            var comment = status.ErrorComment.Length > 64 ? status.ErrorComment[..64] : status.ErrorComment;
            c.SetString(DicomTag.ErrorComment, new string(comment.Select(ch => ch is >= ' ' and < (char)127 and not '\\' ? ch : '?').ToArray()));
        }

        return c;
    }
}
