using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace GenerateCT.Data.Node.Migrations
{
    /// <inheritdoc />
    public partial class AddGenerationJobs : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Outputs",
                table: "generation_jobs");

            migrationBuilder.DropColumn(
                name: "Request",
                table: "generation_jobs");

            migrationBuilder.AlterColumn<string>(
                name: "Error",
                table: "generation_jobs",
                type: "character varying(2048)",
                maxLength: 2048,
                nullable: true,
                oldClrType: typeof(string),
                oldType: "text",
                oldNullable: true);

            migrationBuilder.AddColumn<double>(
                name: "CondScale",
                table: "generation_jobs",
                type: "double precision",
                nullable: false,
                defaultValue: 0.0);

            migrationBuilder.AddColumn<int>(
                name: "Count",
                table: "generation_jobs",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<List<string>>(
                name: "Formats",
                table: "generation_jobs",
                type: "text[]",
                nullable: false);

            migrationBuilder.AddColumn<List<string>>(
                name: "Prompts",
                table: "generation_jobs",
                type: "text[]",
                nullable: false);

            migrationBuilder.AddColumn<long>(
                name: "Seed",
                table: "generation_jobs",
                type: "bigint",
                nullable: false,
                defaultValue: 0L);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "StartedAt",
                table: "generation_jobs",
                type: "timestamp with time zone",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "generation_outputs",
                columns: table => new
                {
                    Id = table.Column<Guid>(type: "uuid", nullable: false),
                    JobId = table.Column<Guid>(type: "uuid", nullable: false),
                    PromptIndex = table.Column<int>(type: "integer", nullable: false),
                    VolumeIndex = table.Column<int>(type: "integer", nullable: false),
                    Format = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    FileName = table.Column<string>(type: "character varying(256)", maxLength: 256, nullable: false),
                    SizeBytes = table.Column<long>(type: "bigint", nullable: false),
                    Sha256 = table.Column<string>(type: "character(64)", fixedLength: true, maxLength: 64, nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_generation_outputs", x => x.Id);
                    table.ForeignKey(
                        name: "FK_generation_outputs_generation_jobs_JobId",
                        column: x => x.JobId,
                        principalTable: "generation_jobs",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateIndex(
                name: "IX_generation_jobs_RequestedBy_CreatedAt",
                table: "generation_jobs",
                columns: new[] { "RequestedBy", "CreatedAt" });

            migrationBuilder.CreateIndex(
                name: "IX_generation_outputs_JobId_FileName",
                table: "generation_outputs",
                columns: new[] { "JobId", "FileName" },
                unique: true);
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "generation_outputs");

            migrationBuilder.DropIndex(
                name: "IX_generation_jobs_RequestedBy_CreatedAt",
                table: "generation_jobs");

            migrationBuilder.DropColumn(
                name: "CondScale",
                table: "generation_jobs");

            migrationBuilder.DropColumn(
                name: "Count",
                table: "generation_jobs");

            migrationBuilder.DropColumn(
                name: "Formats",
                table: "generation_jobs");

            migrationBuilder.DropColumn(
                name: "Prompts",
                table: "generation_jobs");

            migrationBuilder.DropColumn(
                name: "Seed",
                table: "generation_jobs");

            migrationBuilder.DropColumn(
                name: "StartedAt",
                table: "generation_jobs");

            migrationBuilder.AlterColumn<string>(
                name: "Error",
                table: "generation_jobs",
                type: "text",
                nullable: true,
                oldClrType: typeof(string),
                oldType: "character varying(2048)",
                oldMaxLength: 2048,
                oldNullable: true);

            migrationBuilder.AddColumn<string>(
                name: "Outputs",
                table: "generation_jobs",
                type: "jsonb",
                nullable: true);

            migrationBuilder.AddColumn<string>(
                name: "Request",
                table: "generation_jobs",
                type: "jsonb",
                nullable: false,
                defaultValue: "");
        }
    }
}
