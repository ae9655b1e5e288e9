using GenerateCT.Deid.Reports;

namespace GenerateCT.Deid.Tests.Reports;

public sealed class Hl7MessageTests
{
    internal const string Oru =
        "MSH|^~\\&|RIS|GENERAL|GCT|NODE|202403051230||ORU^R01^ORU_R01|CTRL0001|P|2.5.1\r" +
        "PID|1||00482913^^^GENERAL^MR~E991234^^^GENERAL^PI||Abernathy^Thaddeus^Q||19580214|M|||12 Harbor View Road^^Springfield^IL^62704||(217)555-0134\r" +
        "PV1|1|O|||||1234^Lindqvist^Ingrid\r" +
        "OBR|1|PLC778|ACC20240305|71250^CT CHEST^CPT|||202403050915|||||||||5678^Okoro^Chinedu|||||||||F|||||||99&Wojcik&Radek\r" +
        "OBX|1|TX|71250&GDT^Findings^L||FINDINGS:~A 6 mm nodule in the right upper lobe.\\.br\\No effusion \\T\\ no pneumothorax.||||||F\r" +
        "OBX|2|TX|71250&IMP^Impression^L||Stable 6 mm nodule \\E\\ follow-up in 12 months (Fleischner). Discussed with Dr. Lindqvist on 03/05/2024.||||||F\r";

    [Fact]
    public void Fields_components_repetitions_and_subcomponents_are_addressed_as_in_the_standard()
    {
        var m = Hl7Message.Parse(Oru);
        Assert.Equal("ORU", m.MessageCode);
        Assert.Equal("R01", m.TriggerEvent);
        Assert.Equal("CTRL0001", m.ControlId);
        Assert.Equal("|", m.Get("MSH", 1));
        Assert.Equal("^~\\&", m.Get("MSH", 2));
        Assert.Equal("RIS", m.Get("MSH", 3));
        Assert.Equal("E991234", m.Get("PID", 3, 1, repetition: 2));
        Assert.Equal("Thaddeus", m.Get("PID", 5, 2));
        Assert.Equal("Wojcik", m.Get("OBR", 32, 1, 1, subcomponent: 2));
    }

    [Theory]
    [InlineData("a\\F\\b", "a|b")]
    [InlineData("a\\S\\b", "a^b")]
    [InlineData("a\\T\\b", "a&b")]
    [InlineData("a\\R\\b", "a~b")]
    [InlineData("a\\E\\b", "a\\b")]
    [InlineData("line\\.br\\next", "line\nnext")]
    [InlineData("\\X48656C6C6F\\", "Hello")]
    [InlineData("\\XC3A9\\t\\XE9\\", "ét\u00e9")]
    [InlineData("\\H\\bold\\N\\", "bold")]
    [InlineData("unterminated \\F", "unterminated \\F")]
    public void Escape_sequences_decode(string raw, string expected) =>
        Assert.Equal(expected, Hl7Escaping.Unescape(raw, Hl7Delimiters.Default));

    [Fact]
    public void Escaping_then_unescaping_returns_the_text()
    {
        const string text = "pipes | carets ^ amps & tildes ~ backslash \\ and\nnew line";
        Assert.Equal(text, Hl7Escaping.Unescape(Hl7Escaping.Escape(text, Hl7Delimiters.Default), Hl7Delimiters.Default));
    }

    [Fact]
    public void Non_default_delimiters_from_MSH_are_honoured()
    {
        var m = Hl7Message.Parse("MSH#:*!$#RIS#A#B#C#20240101##ORU:R01#X1#P#2.3\nPID#1##ID1##Doe:Jane\nOBX#1#TX#X##a !F! b\n");
        Assert.Equal("R01", m.TriggerEvent);
        Assert.Equal("Jane", m.Get("PID", 5, 2));
        Assert.Equal("a # b", m.Get("OBX", 5));
    }

    [Fact]
    public void Oru_report_carries_text_in_order_and_the_message_identifiers()
    {
        var r = OruReportReader.Read(Hl7Message.Parse(Oru));
        Assert.StartsWith("FINDINGS:\nA 6 mm nodule in the right upper lobe.\nNo effusion & no pneumothorax.\nIMPRESSION:\nStable 6 mm nodule \\ follow-up", r.Text);
        Assert.Equal("ACC20240305", r.AccessionNumber);
        Assert.Equal("00482913", r.PatientId);
        Assert.Equal(66, r.AgeYears);
        Assert.Equal("M", r.Sex);
        Assert.Contains(r.Names, n => n.Family == "Abernathy" && n.Given == "Thaddeus");
        Assert.Contains(r.Names, n => n.Family == "Lindqvist");
        Assert.Contains(r.Names, n => n.Family == "Okoro");
        Assert.Contains(r.Names, n => n.Family == "Wojcik");
        Assert.Contains("E991234", r.Identifiers);
        Assert.Contains("PLC778", r.Identifiers);
    }

    [Fact]
    public void Other_message_types_are_rejected_with_the_reason()
    {
        var adt = Hl7Message.Parse("MSH|^~\\&|A|B|C|D|20240101||ADT^A01|1|P|2.5.1\rPID|1||X\r");
        var e = Assert.Throws<Hl7RejectException>(() => OruReportReader.Read(adt));
        Assert.Contains("ADT^A01", e.Message);
    }

    [Fact]
    public void Text_without_MSH_is_not_a_message()
    {
        Assert.Throws<Hl7ParseException>(() => Hl7Message.Parse("PID|1||X\r"));
    }
}
