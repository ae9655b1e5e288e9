using System;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace GenerateCT.Data.Node.Migrations
{
    /// <inheritdoc />
    public partial class IngestStore : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.AddColumn<string>(
                name: "AccessionKey",
                table: "series",
                type: "character varying(64)",
                maxLength: 64,
                nullable: true);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "LastInstanceAt",
                table: "series",
                type: "timestamp with time zone",
                nullable: false,
                defaultValue: new DateTimeOffset(new DateTime(1, 1, 1, 0, 0, 0, 0, DateTimeKind.Unspecified), new TimeSpan(0, 0, 0, 0, 0)));

            migrationBuilder.AddColumn<string>(
                name: "Reason",
                table: "series",
                type: "character varying(1024)",
                maxLength: 1024,
                nullable: true);

            migrationBuilder.CreateTable(
                name: "generation_jobs",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    RequestedBy = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    State = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    Request = table.Column<string>(type: "jsonb", nullable: false),
                    Outputs = table.Column<string>(type: "jsonb", nullable: true),
                    Error = table.Column<string>(type: "text", nullable: true),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    FinishedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: true)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_generation_jobs", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "instances",
                columns: table => new
                {
                    SopInstanceKey = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    SeriesKey = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    Path = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    ReceivedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_instances", x => x.SopInstanceKey);
                });

            migrationBuilder.CreateTable(
                name: "reports",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    AccessionKey = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    Source = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    ScrubbedText = table.Column<string>(type: "text", nullable: false),
                    Prompt = table.Column<string>(type: "text", nullable: true),
                    ReceivedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_reports", x => x.Id);
                });

            migrationBuilder.CreateTable(
                name: "training_samples",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    SeriesKey = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    VolumePath = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    Depth = table.Column<int>(type: "integer", nullable: false),
                    Height = table.Column<int>(type: "integer", nullable: false),
                    Width = table.Column<int>(type: "integer", nullable: false),
                    CreatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_training_samples", x => x.Id);
                });

            migrationBuilder.CreateIndex(
                name: "IX_series_AccessionKey",
                table: "series",
                column: "AccessionKey");

            migrationBuilder.CreateIndex(
                name: "IX_generation_jobs_State",
                table: "generation_jobs",
                column: "State");

            migrationBuilder.CreateIndex(
                name: "IX_instances_SeriesKey",
                table: "instances",
                column: "SeriesKey");

            migrationBuilder.CreateIndex(
                name: "IX_reports_AccessionKey",
                table: "reports",
                column: "AccessionKey");

            migrationBuilder.CreateIndex(
                name: "IX_training_samples_SeriesKey",
                table: "training_samples",
                column: "SeriesKey",
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "generation_jobs");

            migrationBuilder.DropTable(
                name: "instances");

            migrationBuilder.DropTable(
                name: "reports");

            migrationBuilder.DropTable(
                name: "training_samples");

            migrationBuilder.DropIndex(
                name: "IX_series_AccessionKey",
                table: "series");

            migrationBuilder.DropColumn(
                name: "AccessionKey",
                table: "series");

            migrationBuilder.DropColumn(
                name: "LastInstanceAt",
                table: "series");

            migrationBuilder.DropColumn(
                name: "Reason",
                table: "series");
        }
    }
}
