using System;
using System.Collections.Generic;
using Microsoft.EntityFrameworkCore.Migrations;

#nullable disable

namespace GenerateCT.Data.Coordinator.Migrations
{
    /// <inheritdoc />
    public partial class CoordinatorRounds : Migration
    {
        /// <inheritdoc />
        protected override void Up(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropColumn(
                name: "Sha256",
                table: "model_versions");

            migrationBuilder.DropColumn(
                name: "Stage",
                table: "model_versions");

            migrationBuilder.AddColumn<int>(
                name: "BatchSize",
                table: "rounds",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<double>(
                name: "Beta1",
                table: "rounds",
                type: "double precision",
                nullable: false,
                defaultValue: 0.0);

            migrationBuilder.AddColumn<double>(
                name: "Beta2",
                table: "rounds",
                type: "double precision",
                nullable: false,
                defaultValue: 0.0);

            migrationBuilder.AddColumn<DateTimeOffset>(
                name: "Deadline",
                table: "rounds",
                type: "timestamp with time zone",
                nullable: false,
                defaultValue: new DateTimeOffset(new DateTime(1, 1, 1, 0, 0, 0, 0, DateTimeKind.Unspecified), new TimeSpan(0, 0, 0, 0, 0)));

            migrationBuilder.AddColumn<string>(
                name: "FailureReason",
                table: "rounds",
                type: "character varying(512)",
                maxLength: 512,
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "LearningRate",
                table: "rounds",
                type: "double precision",
                nullable: false,
                defaultValue: 0.0);

            migrationBuilder.AddColumn<int>(
                name: "LocalSteps",
                table: "rounds",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<int>(
                name: "MinNodes",
                table: "rounds",
                type: "integer",
                nullable: false,
                defaultValue: 0);

            migrationBuilder.AddColumn<List<string>>(
                name: "Participants",
                table: "rounds",
                type: "text[]",
                nullable: false);

            migrationBuilder.AddColumn<double>(
                name: "ProximalMu",
                table: "rounds",
                type: "double precision",
                nullable: false,
                defaultValue: 0.0);

            migrationBuilder.AddColumn<long>(
                name: "ResultVersion",
                table: "rounds",
                type: "bigint",
                nullable: true);

            migrationBuilder.AddColumn<double>(
                name: "ServerLearningRate",
                table: "rounds",
                type: "double precision",
                nullable: false,
                defaultValue: 0.0);

            migrationBuilder.AddColumn<string>(
                name: "StartedBy",
                table: "rounds",
                type: "character varying(128)",
                maxLength: 128,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "Strategy",
                table: "rounds",
                type: "character varying(16)",
                maxLength: 16,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<double>(
                name: "Tau",
                table: "rounds",
                type: "double precision",
                nullable: false,
                defaultValue: 0.0);

            migrationBuilder.AddColumn<string>(
                name: "CreatedBy",
                table: "model_versions",
                type: "character varying(128)",
                maxLength: 128,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "Label",
                table: "model_versions",
                type: "character varying(128)",
                maxLength: 128,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<long>(
                name: "ParentId",
                table: "model_versions",
                type: "bigint",
                nullable: true);

            migrationBuilder.CreateTable(
                name: "model_weights",
                columns: table => new
                {
                    VersionId = table.Column<long>(type: "bigint", nullable: false),
                    Stage = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    Sha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    ByteCount = table.Column<long>(type: "bigint", nullable: false),
                    TensorCount = table.Column<int>(type: "integer", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_model_weights", x => new { x.VersionId, x.Stage });
                    table.ForeignKey(
                        name: "FK_model_weights_model_versions_VersionId",
                        column: x => x.VersionId,
                        principalTable: "model_versions",
                        principalColumn: "Id",
                        onDelete: ReferentialAction.Cascade);
                });

            migrationBuilder.CreateTable(
                name: "round_metrics",
                columns: table => new
                {
                    RoundId = table.Column<long>(type: "bigint", nullable: false),
                    NodeId = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    Name = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: false),
                    Value = table.Column<double>(type: "double precision", nullable: false),
                    ReportedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_round_metrics", x => new { x.RoundId, x.NodeId, x.Name });
                });

            migrationBuilder.CreateTable(
                name: "round_updates",
                columns: table => new
                {
                    RoundId = table.Column<long>(type: "bigint", nullable: false),
                    NodeId = table.Column<string>(type: "character varying(128)", maxLength: 128, nullable: false),
                    SampleCount = table.Column<long>(type: "bigint", nullable: false),
                    SpoolPath = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    State = table.Column<string>(type: "character varying(16)", maxLength: 16, nullable: false),
                    Reason = table.Column<string>(type: "character varying(512)", maxLength: 512, nullable: true),
                    UpdateSha256 = table.Column<string>(type: "character varying(64)", maxLength: 64, nullable: true),
                    ReceivedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_round_updates", x => new { x.RoundId, x.NodeId });
                });

            migrationBuilder.CreateTable(
                name: "server_optimizer_states",
                columns: table => new
                {
                    Stage = table.Column<string>(type: "character varying(32)", maxLength: 32, nullable: false),
                    Path = table.Column<string>(type: "character varying(1024)", maxLength: 1024, nullable: false),
                    RoundId = table.Column<long>(type: "bigint", nullable: false),
                    UpdatedAt = table.Column<DateTimeOffset>(type: "timestamp with time zone", nullable: false)
                },
                constraints: table =>
                {
                    table.PrimaryKey("PK_server_optimizer_states", x => x.Stage);
                });

            migrationBuilder.CreateIndex(
                name: "IX_rounds_State",
                table: "rounds",
                column: "State");
        }

        /// <inheritdoc />
        protected override void Down(MigrationBuilder migrationBuilder)
        {
            migrationBuilder.DropTable(
                name: "model_weights");

            migrationBuilder.DropTable(
                name: "round_metrics");

            migrationBuilder.DropTable(
                name: "round_updates");

            migrationBuilder.DropTable(
                name: "server_optimizer_states");

            migrationBuilder.DropIndex(
                name: "IX_rounds_State",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "BatchSize",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "Beta1",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "Beta2",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "Deadline",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "FailureReason",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "LearningRate",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "LocalSteps",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "MinNodes",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "Participants",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "ProximalMu",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "ResultVersion",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "ServerLearningRate",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "StartedBy",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "Strategy",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "Tau",
                table: "rounds");

            migrationBuilder.DropColumn(
                name: "CreatedBy",
                table: "model_versions");

            migrationBuilder.DropColumn(
                name: "Label",
                table: "model_versions");

            migrationBuilder.DropColumn(
                name: "ParentId",
                table: "model_versions");

            migrationBuilder.AddColumn<string>(
                name: "Sha256",
                table: "model_versions",
                type: "character varying(64)",
                maxLength: 64,
                nullable: false,
                defaultValue: "");

            migrationBuilder.AddColumn<string>(
                name: "Stage",
                table: "model_versions",
                type: "character varying(32)",
                maxLength: 32,
                nullable: false,
                defaultValue: "");
        }
    }
}
